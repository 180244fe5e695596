"""The data dir's server lock (embedded/index_builds.py): held by one `openpeek serve`, seen by `openpeek optimize`,
gone with the process that held it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from openpeek.embedded.index_builds import BuildRequests, ServerLock


def test_one_server_holds_the_lock_and_others_see_it(tmp_path):
    server = ServerLock(tmp_path)
    assert not ServerLock(tmp_path).held_elsewhere()
    server.hold()
    assert ServerLock(tmp_path).held_elsewhere()
    with pytest.raises(ValueError, match="another openpeek server is running"):
        ServerLock(tmp_path).hold()
    server.release()
    assert not ServerLock(tmp_path).held_elsewhere()


def test_the_lock_dies_with_the_process_that_held_it(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from openpeek.embedded.index_builds import ServerLock; "
        f"lock = ServerLock({str(tmp_path)!r}); lock.hold(); print('held', flush=True); time.sleep(60)")],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    assert ServerLock(tmp_path).held_elsewhere()
    holder.kill()
    holder.wait()
    assert not ServerLock(tmp_path).held_elsewhere()


def test_a_request_nobody_claimed_can_be_withdrawn_once(tmp_path):
    requests = BuildRequests(tmp_path)
    request_id = requests.submit("ns_one")
    assert requests.status(request_id) is None
    assert requests.withdraw(request_id) and not requests.withdraw(request_id)
    assert requests.serve_pending(vectors=None) == []  # nothing left to claim
