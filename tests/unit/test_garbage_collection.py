"""fewer_collections: the collector's first threshold is raised while any bulk loop runs and restored after the last."""

from __future__ import annotations

import gc
import threading

from openpeek.garbage_collection import BULK_THRESHOLD, fewer_collections


def test_thresholds_are_raised_inside_and_restored_after_the_last_user_even_on_error():
    before = gc.get_threshold()
    with fewer_collections():
        assert gc.get_threshold()[0] >= BULK_THRESHOLD and gc.get_threshold()[1:] == before[1:]
        try:
            with fewer_collections():
                raise RuntimeError("a failing nested loop")
        except RuntimeError:
            pass
        assert gc.get_threshold()[0] >= BULK_THRESHOLD  # the outer user is still running
    assert gc.get_threshold() == before


def test_overlapping_users_on_other_threads_restore_the_original_thresholds():
    before = gc.get_threshold()
    inside, release = threading.Barrier(3), threading.Event()

    def loop() -> None:
        with fewer_collections():
            inside.wait()
            release.wait()

    threads = [threading.Thread(target=loop) for _ in range(2)]
    for thread in threads:
        thread.start()
    inside.wait()
    assert gc.get_threshold()[0] >= BULK_THRESHOLD
    release.set()
    for thread in threads:
        thread.join()
    assert gc.get_threshold() == before
