"""The embedded scheduler (EventBridge's schedules on a laptop): jobs run when due, again after their period, and a
failing job neither stops the others nor its own next run."""

from __future__ import annotations

from openpeek.embedded.scheduler import Scheduler


def test_jobs_run_when_due_and_a_failure_does_not_stop_the_schedule():
    now = [0.0]
    scheduler = Scheduler(clock=lambda: now[0])
    runs = []

    def broken():
        runs.append("broken")
        raise RuntimeError("boom")

    scheduler.every(3600, "reaper", lambda: runs.append("reaper"), first_after_s=60)
    scheduler.every(100, "broken", broken)

    assert scheduler.run_due() == ["broken"]
    now[0] = 61
    assert scheduler.run_due() == ["reaper"]
    now[0] = 101
    assert scheduler.run_due() == ["broken"]
    now[0] = 200
    assert scheduler.run_due() == []
    now[0] = 3662
    assert scheduler.run_due() == ["reaper", "broken"]
    assert runs == ["broken", "reaper", "broken", "reaper", "broken"]
