"""Network faults between every backend and its real server, injected by a TCP proxy.

Each test arms a fault, runs one operation through the storage and then looks at the server
through its own SDK or filesystem: the operation either completed intact (where a retry is
safe) or raised a clear ``StorageError``; nothing truncated or mixed is ever stored under the
final name; no unfinished upload is left behind.
"""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile

from tests.reliability.figures import record
from tests.reliability.rigs import ATTEMPTS, TIMEOUT, Rig
from tests.reliability.support import (
    WRITERS,
    attempt,
    check_clear_error,
    check_upload,
    differs,
    payload,
)

#: The longest an operation may take to fail while the server stalls: every attempt of the
#: SDK's retries waits for the timeout, plus the reconnections in between.
STALL_BOUND = (ATTEMPTS + 1) * 2 * TIMEOUT + 2.0


@pytest.mark.parametrize("how", sorted(WRITERS))
def test_upload_survives_one_cut(rig: Rig, how: str) -> None:
    """One connection reset in the middle of the second part of a multi-part upload."""
    storage = rig.storage()
    data = payload(rig.part * 2 + rig.part // 2, seed=1)
    rig.proxy.cut(after=rig.part + rig.part // 2)
    run = attempt(lambda: WRITERS[how](storage, f"cut/{how}.bin", data))
    assert "cut up" in rig.proxy.events, "the fault never hit the upload"
    lasting = check_upload(rig, "cut/", data, run)
    record(
        f"upload_cut_once_{how}", rig.id, outcome=run.outcome, seconds=run.seconds, lasting=lasting
    )
    if run.error is None:
        # Once the fault is gone, the same storage goes on working.
        assert storage.exists(run.result)


def test_single_request_save_survives_one_cut(rig: Rig) -> None:
    """One connection reset in the middle of a save small enough for one request."""
    storage = rig.storage()
    data = payload(rig.part // 2, seed=7)
    rig.proxy.cut(after=len(data) // 2)
    run = attempt(lambda: WRITERS["save"](storage, "single/object.bin", data))
    assert "cut up" in rig.proxy.events, "the fault never hit the upload"
    lasting = check_upload(rig, "single/", data, run)
    record("upload_cut_once_single", rig.id, outcome=run.outcome, lasting=lasting)


@pytest.mark.parametrize("how", sorted(WRITERS))
def test_upload_cut_once_without_retries(retrying_rig: Rig, how: str) -> None:
    """The same cut with the SDK's retries off: the upload fails clearly after one part was
    stored, and that part is removed (or, where the service cannot, never becomes visible)."""
    rig = retrying_rig
    storage = rig.storage(retries=False)
    data = payload(rig.part * 2 + rig.part // 2, seed=2)
    rig.proxy.cut(after=rig.part + rig.part // 2)
    run = attempt(lambda: WRITERS[how](storage, f"cut/{how}.bin", data))
    assert run.error is not None, "an upload failed by the network succeeded without retries"
    lasting = check_upload(rig, "cut/", data, run)
    record(f"upload_cut_no_retries_{how}", rig.id, outcome=run.outcome, lasting=lasting)
    # The name is still free, and a save that gets through leaves nothing behind at all.
    assert WRITERS["save"](storage, f"cut/{how}.bin", data) == f"cut/{how}.bin"
    assert not rig.leftovers(), f"left behind after a complete save: {rig.leftovers()}"


@pytest.mark.parametrize("how", sorted(WRITERS))
def test_upload_fails_cleanly_on_a_broken_network(rig: Rig, how: str) -> None:
    """Every connection is reset once it carried half a part: the upload cannot complete and
    must fail clearly, leaving nothing behind."""
    storage = rig.storage(retries=False)
    data = payload(rig.part * 2 + rig.part // 2, seed=2)
    rig.proxy.cut(after=rig.part // 2, per_connection=True)
    run = attempt(lambda: WRITERS[how](storage, f"broken/{how}.bin", data))
    rig.proxy.release()
    assert run.error is not None, "an upload whose every connection broke succeeded"
    lasting = check_upload(rig, "broken/", data, run)
    record(
        f"upload_broken_network_{how}",
        rig.id,
        outcome=run.outcome,
        seconds=run.seconds,
        cuts=rig.proxy.events.count("cut up"),
        lasting=lasting,
    )


def test_read_survives_one_cut(rig: Rig) -> None:
    """A download reset in the middle: the bytes read are the object's, whole or an error."""
    data = payload(3 * 1024 * 1024, seed=3)
    rig.raw_write("read/object.bin", data)
    storage = rig.storage()
    # Armed before the file is opened: some open their download at once.
    rig.proxy.cut(after=len(data) * 2 // 5, direction="down")
    with storage.open("read/object.bin", "rb") as handle:
        run = attempt(handle.read)
    assert "cut down" in rig.proxy.events, "the fault never hit the download"
    if run.error is None:
        problem = differs(run.result, data)
        assert not problem, f"the read returned {problem}"
    else:
        check_clear_error(run.error)
    record("read_cut_once", rig.id, outcome=run.outcome, seconds=run.seconds)


def test_read_never_mixes_versions(rig: Rig) -> None:
    """The object is replaced (same size) at the moment its download is reset: the reader
    returns the version it opened, whole, or raises; never bytes of both."""
    old, new = payload(3 * 1024 * 1024, seed=4), payload(3 * 1024 * 1024, seed=5)
    rig.raw_write("versions/object.bin", old)
    storage = rig.storage()
    rig.proxy.cut(
        after=len(old) * 2 // 5,
        direction="down",
        on_fire=lambda _: rig.raw_write("versions/object.bin", new),
    )
    with storage.open("versions/object.bin", "rb") as handle:
        run = attempt(handle.read)
    assert "cut down" in rig.proxy.events, "the fault never hit the download"
    assert not differs(rig.raw_read("versions/object.bin"), new)
    if run.error is None:
        problem = differs(run.result, old)
        assert not problem, f"the reader returned {problem} (the version it opened)"
    else:
        check_clear_error(run.error)
    record("read_replaced_during_cut", rig.id, outcome=run.outcome)


def test_stall_raises_within_the_timeout(rig: Rig) -> None:
    """The server stops answering in the middle of a download: the read fails clearly within
    the configured timeout (and its retries), and the storage recovers afterwards."""
    data = payload(3 * 1024 * 1024, seed=6)
    rig.raw_write("stall/object.bin", data)
    storage = rig.storage()
    rig.proxy.stall(after=len(data) // 3)
    with storage.open("stall/object.bin", "rb") as handle:
        run = attempt(handle.read)
        rig.proxy.release()
    assert "stall down" in rig.proxy.events, "the fault never hit the download"
    assert run.error is not None, "a read of a stalled download returned"
    check_clear_error(run.error)
    assert run.seconds < STALL_BOUND, f"the stalled read took {run.seconds:.1f}s to fail"
    assert storage.size("stall/object.bin") == len(data)
    record("stall_read", rig.id, outcome=run.outcome, seconds=run.seconds)


def test_stalled_request_raises_within_the_timeout(bounded_rig: Rig) -> None:
    """The server stops answering a metadata request: it fails clearly within the timeout (and
    its retries), and the same storage works once the server answers again."""
    rig = bounded_rig
    rig.raw_write("stall/small.bin", b"small")
    storage = rig.storage()
    assert storage.size("stall/small.bin") == len(b"small")  # connected
    rig.proxy.stall()
    run = attempt(lambda: storage.size("stall/small.bin"))
    rig.proxy.release()
    assert run.error is not None, "a request to a stalled server returned"
    check_clear_error(run.error)
    assert run.seconds < STALL_BOUND, f"the stalled request took {run.seconds:.1f}s to fail"
    assert storage.size("stall/small.bin") == len(b"small")
    record("stall_request", rig.id, outcome=run.outcome, seconds=run.seconds)


def test_server_restart_between_operations(rig: Rig) -> None:
    """Every connection is dropped and new ones refused for a moment: an operation meanwhile
    fails clearly (or succeeds once the server is back); the next one works on the same
    storage, with new connections."""
    storage = rig.storage()
    name = storage.save("restart/before.bin", ContentFile(b"before"))
    rig.proxy.restart(down_for=TIMEOUT)
    during = attempt(lambda: storage.exists(name))
    if during.error is not None:
        check_clear_error(during.error)
        assert during.seconds < STALL_BOUND
    else:
        assert during.result is True
    rig.proxy.wait_listening()
    after = attempt(lambda: storage.save("restart/after.bin", ContentFile(b"after")))
    assert after.error is None, f"the storage did not recover from the restart: {after.error!r}"
    assert rig.raw_read(after.result) == b"after"
    with storage.open(name, "rb") as handle:
        assert handle.read() == b"before"
    record(
        "server_restart",
        rig.id,
        during=during.outcome,
        during_seconds=during.seconds,
        after=after.outcome,
    )
