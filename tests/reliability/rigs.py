"""Each network backend wired through a :class:`~tests.servers._proxy.FaultProxy` to its real
test server, with small timeouts, and the server's own view of what is stored.

A :class:`Rig` builds storages that reach the server only through the proxy, reads and writes
objects past the storage (the service's own SDK or filesystem, never through the proxy), lists
every stored name and every leftover of an unfinished upload: multipart uploads (S3), uncommitted
blocks (Azure), open upload sessions (Dropbox, GCS), temporary files (SFTP, FTP).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.servers._proxy import FaultProxy

KiB = 1024
MiB = 1024 * KiB
#: Seconds every storage here waits for a connection or an answer.
TIMEOUT = 1.0
#: Attempts of one request where the SDK retries (the first one included).
ATTEMPTS = 3
#: The prefix of the temporary files SFTP and FTP uploads write first.
TEMP_PREFIX = ".~stowage-"


@dataclass
class Rig:
    """One backend behind a fault proxy (see the module docstring)."""

    id: str
    proxy: FaultProxy
    #: ``make(**options)``: a storage through the proxy, create-only unless told otherwise.
    make: Callable[..., Any]
    raw_read: Callable[[str], bytes]
    raw_write: Callable[[str, bytes], None]
    #: Every name stored in the test's area, temporary files included.
    raw_names: Callable[[], list[str]]
    #: Descriptions of what unfinished uploads left on the server.
    leftovers: Callable[[], list[str]]
    #: The part size uploads are cut into (faults are placed by it).
    part: int
    #: Whether a create-only write is atomic on the service.
    atomic_create: bool = True
    #: Kinds of leftover the service offers no way to remove (they expire on their own).
    lasting: frozenset[str] = frozenset()
    #: What the service cannot show at all (said in docs/reliability.md).
    unseen: str = ""
    #: Without atomic creates: the storage method that checks the name, then writes (timed).
    race_window: str = ""
    #: ``jail(folder)``: the options that confine a storage to ``folder`` of the test's area
    #: (None where the service has no such setting: Libcloud's root is the container's).
    jail: Callable[[str], dict[str, Any]] | None = None
    made: list[Any] = field(default_factory=list)

    def storage(self, **options: Any) -> Any:
        """Return a new storage through the proxy (closed at the end of the test)."""
        storage = self.make(**options)
        self.made.append(storage)
        return storage

    def close(self) -> None:
        """Close every storage made, then the proxy's connections."""
        for storage in self.made:
            # A storage whose server misbehaved may fail to close: it is forgotten either way.
            with contextlib.suppress(Exception):
                storage.close()
        self.made.clear()


def lasting_leftovers(rig: Rig) -> tuple[list[str], list[str]]:
    """Return the leftovers the storage should have removed, and those it cannot remove."""
    found = rig.leftovers()
    lasting = [item for item in found if item.split(":", 1)[0] in rig.lasting]
    return [item for item in found if item not in lasting], lasting


def tree(root: Path) -> list[str]:
    """Return every file below ``root`` as a relative path."""
    if not root.exists():
        return []
    return sorted(
        str(Path(folder, name).relative_to(root))
        for folder, _, files in os.walk(root)
        for name in files
    )


def temp_files(root: Path) -> list[str]:
    """Return the temporary upload files below ``root``."""
    return [f"temporary file:{p}" for p in tree(root) if Path(p).name.startswith(TEMP_PREFIX)]


def s3_rig(server: Any, bucket: str) -> Rig:
    """S3 on moto: multipart uploads of 5 MiB parts (S3's smallest), two in flight."""
    from boto3.s3.transfer import TransferConfig
    from botocore.config import Config

    from storages.backends.s3 import S3Storage

    proxy = FaultProxy(server.port)
    raw = server.client()
    part = 5 * MiB

    def make(retries: bool = True, **options: Any) -> Any:
        config = Config(
            connect_timeout=TIMEOUT,
            read_timeout=TIMEOUT,
            retries={"total_max_attempts": ATTEMPTS if retries else 1, "mode": "standard"},
        )
        transfer = TransferConfig(
            multipart_threshold=part, multipart_chunksize=part, max_concurrency=2
        )
        defaults = {
            "endpoint_url": f"http://127.0.0.1:{proxy.port}",
            "client_config": config,
            "transfer_config": transfer,
            "file_buffer_size": part,
            "file_overwrite": False,
        }
        return S3Storage(**server.options(bucket, **{**defaults, **options}))

    return Rig(
        "s3",
        proxy,
        make,
        *_s3_raw(raw, bucket),
        part=part,
        jail=lambda folder: {"location": folder},
    )


def _s3_raw(raw: Any, bucket: str) -> tuple[Callable[..., Any], ...]:
    def read(name: str) -> bytes:
        return bytes(raw.get_object(Bucket=bucket, Key=name)["Body"].read())

    def write(name: str, data: bytes) -> None:
        raw.put_object(Bucket=bucket, Key=name, Body=data)

    def names() -> list[str]:
        pages = raw.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", ()))

    def leftovers() -> list[str]:
        uploads = raw.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        return [f"multipart upload:{u['Key']} ({u['UploadId']})" for u in uploads]

    return read, write, names, leftovers


def libcloud_s3_rig(server: Any, bucket: str) -> Rig:
    """Libcloud's S3 driver on moto (the driver cuts 5 MiB parts; 1 MiB handed at a time)."""
    from storages.backends.apache_libcloud import LibCloudStorage
    from tests.servers.libcloud_s3 import s3_providers

    proxy = FaultProxy(server.port)

    def make(retries: bool = True, **options: Any) -> Any:
        providers = s3_providers(server, bucket, port=proxy.port, timeout=TIMEOUT)
        defaults = {"providers": providers, "upload_part_size": MiB, "file_overwrite": False}
        return LibCloudStorage("moto", **{**defaults, **options})

    return Rig(
        "libcloud_s3",
        proxy,
        make,
        *_s3_raw(server.client(), bucket),
        part=5 * MiB,
        atomic_create=False,
        race_window="_put_key",
    )


def azure_rig(server: Any, container: str) -> Rig:
    """Azure on Azurite: 1 MiB blocks, two in flight; 1 MiB ranges read two ahead."""
    from azure.storage.blob import LinearRetry

    from storages.backends.azure_storage import AzureStorage
    from tests.servers.azure import ACCOUNT, KEY

    proxy = FaultProxy(server.port)
    raw = server.client().get_container_client(container)
    connection = (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};"
        f"BlobEndpoint=http://127.0.0.1:{proxy.port}/{ACCOUNT};"
    )

    def make(retries: bool = True, **options: Any) -> Any:
        retry = LinearRetry(backoff=0.1, random_jitter_range=0, retry_total=ATTEMPTS - 1)
        client_options = {
            "max_block_size": MiB,
            "max_single_put_size": MiB,
            "max_chunk_get_size": MiB,
            "retry_policy": retry if retries else LinearRetry(retry_total=0),
        }
        defaults = {
            "connection_string": connection,
            "azure_container": container,
            "timeout": TIMEOUT,
            "client_options": client_options,
            "file_overwrite": False,
        }
        return AzureStorage(**{**defaults, **options})

    def read(name: str) -> bytes:
        return bytes(raw.get_blob_client(name).download_blob().readall())

    def write(name: str, data: bytes) -> None:
        raw.get_blob_client(name).upload_blob(data, overwrite=True)

    def names() -> list[str]:
        return sorted(blob.name for blob in raw.list_blobs())

    def leftovers() -> list[str]:
        found = []
        for blob in raw.list_blobs(include=["uncommittedblobs"]):
            _, uncommitted = raw.get_blob_client(blob.name).get_block_list("uncommitted")
            if uncommitted:
                found.append(f"uncommitted blocks:{blob.name} ({len(uncommitted)})")
        return found

    return Rig(
        "azure",
        proxy,
        make,
        read,
        write,
        names,
        leftovers,
        part=MiB,
        lasting=frozenset({"uncommitted blocks"}),
        jail=lambda folder: {"location": folder},
    )


def sftp_rig(server: Any, area: str, known_hosts: Path) -> Rig:
    """SFTP on OpenSSH's sshd: 1 MiB writes to a temporary file renamed into place."""
    from storages.backends.sftpstorage import SFTPStorage

    proxy = FaultProxy(server.port)
    public = Path(f"{server.host_key}.pub").read_text().split()
    known_hosts.write_text(f"[127.0.0.1]:{proxy.port} {public[0]} {public[1]}\n")
    root = server.local(area)

    def make(retries: bool = True, **options: Any) -> Any:
        params = server.params(
            port=proxy.port, timeout=TIMEOUT, banner_timeout=TIMEOUT, auth_timeout=TIMEOUT
        )
        defaults = {
            "host": "127.0.0.1",
            "params": params,
            "known_host_file": str(known_hosts),
            "root_path": area,
            "base_url": "http://files.example/",
            "file_overwrite": False,
        }
        return SFTPStorage(**{**defaults, **options})

    rig = _directory_rig("sftpstorage", proxy, make, root, atomic_create=True)
    rig.jail = lambda folder: {"root_path": f"{area}/{folder}"}
    return rig


def ftp_rig(server: Any, area: str) -> Rig:
    """FTP on pyftpdlib (control and passive data connections through the proxy)."""
    from urllib.parse import quote

    from storages.backends.ftp import FTPStorage
    from tests.servers.ftp import PASSWORD, USER

    proxy = FaultProxy(server.ports["plain"], ftp=True)
    location = f"ftp://{USER}:{quote(PASSWORD, safe='')}@127.0.0.1:{proxy.port}{area}"

    def make(retries: bool = True, **options: Any) -> Any:
        defaults = {
            "location": location,
            "base_url": "http://files.example/",
            "timeout": TIMEOUT,
            "file_overwrite": False,
        }
        return FTPStorage(**{**defaults, **options})

    rig = _directory_rig("ftp", proxy, make, server.local(area), atomic_create=False)
    rig.race_window = "_rename_no_replace"
    rig.jail = lambda folder: {"location": f"{location}/{folder}"}
    return rig


def _directory_rig(
    rig_id: str, proxy: FaultProxy, make: Callable[..., Any], root: Path, atomic_create: bool
) -> Rig:
    def read(name: str) -> bytes:
        return (root / name).read_bytes()

    def write(name: str, data: bytes) -> None:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        # As another writer of the server would: a new file renamed over the old one.
        temp = path.with_name(f"{path.name}.raw-write")
        temp.write_bytes(data)
        if path.exists():
            # SFTP times have a resolution of one second: a file replaced by one of the same
            # size within the second of its last change cannot be told from it (a limit that
            # docs/reliability.md states). Replace as a writer one second later would.
            later = max(time.time(), path.stat().st_mtime + 1)
            os.utime(temp, (later, later))
        temp.replace(path)

    return Rig(
        rig_id,
        proxy,
        make,
        read,
        write,
        lambda: tree(root),
        lambda: temp_files(root),
        part=MiB,
        atomic_create=atomic_create,
    )


def dropbox_rig(fake: Any, proxy: FaultProxy, root: str) -> Rig:
    """Dropbox on the HTTPS fake: 4 MiB upload-session parts (the fake is in this process)."""
    from storages.backends.dropbox import DropboxStorage

    account = fake.account

    def make(retries: bool = True, **options: Any) -> Any:
        defaults = {**fake.options(), "root_path": root, "timeout": TIMEOUT}
        defaults["file_overwrite"] = False
        return DropboxStorage(**{**defaults, **options})

    def read(name: str) -> bytes:
        revision = account.current(f"{root}/{name}")
        if revision is None:
            raise FileNotFoundError(name)
        return bytes(revision.data)

    def write(name: str, data: bytes) -> None:
        account.upload({"path": f"{root}/{name}", "mode": "overwrite"}, data)

    def names() -> list[str]:
        return sorted(path[len(root) + 1 :] for path in fake_files(account, root))

    def leftovers() -> list[str]:
        with account.lock:
            sessions = list(account.sessions.items())
        return [f"upload session:{sid} ({len(s.data)} bytes)" for sid, s in sessions]

    return Rig(
        "dropbox",
        proxy,
        make,
        read,
        write,
        names,
        leftovers,
        part=4 * MiB,
        lasting=frozenset({"upload session"}),
        unseen="the real service cannot list or cancel upload sessions; the fake shows them",
        jail=lambda folder: {"root_path": f"{root}/{folder}"},
    )


def fake_files(account: Any, root: str) -> list[str]:
    """Return the paths of the files stored below ``root`` in the fake's account."""
    prefix = root.lower() + "/"
    found = []
    with account.lock:
        for lower, revision in account.files.items():
            if lower.startswith(prefix):
                found.append(revision.path)
    return found


def gcs_rig(server: Any, proxy: FaultProxy, bucket: str) -> Rig:
    """GCS on fake-gcs-server (its external URL is the proxy, so resumable sessions go through
    it too): 256 KiB chunks (the API's smallest). GCS has no timeout setting: the storages here
    get a 1 s timeout at the client seam (``make_client``), which also keeps the ledger of the
    resumable sessions they open, since no API lists them."""
    from storages.backends.gcloud import GoogleCloudStorage
    from tests.reliability.gcs_ledger import LedgerSession, UploadLedger
    from tests.servers.gcloud import PROJECT, service_account_credentials

    ledger = UploadLedger()

    class LedgeredStorage(GoogleCloudStorage):
        def make_client(self) -> Any:
            client = super().make_client()
            client._http_internal = LedgerSession(client._http, ledger, (TIMEOUT, TIMEOUT))
            return client

    def make(retries: bool = True, **options: Any) -> Any:
        defaults = {
            "bucket_name": bucket,
            "project_id": PROJECT,
            "credentials": service_account_credentials(),
            "client_options": {"api_endpoint": f"http://127.0.0.1:{proxy.port}"},
            "blob_chunk_size": 256 * KiB,
            "file_overwrite": False,
        }
        return LedgeredStorage(**{**defaults, **options})

    raw = server.client().bucket(bucket)

    def read(name: str) -> bytes:
        return bytes(raw.blob(name).download_as_bytes(raw_download=True))

    def write(name: str, data: bytes) -> None:
        raw.blob(name).upload_from_string(data)

    def names() -> list[str]:
        return sorted(blob.name for blob in raw.client.list_blobs(bucket))

    return Rig(
        "gcloud",
        proxy,
        make,
        read,
        write,
        names,
        ledger.unfinished,
        part=256 * KiB,
        unseen=(
            "no API lists resumable upload sessions: the test keeps a ledger of the sessions "
            "the storage opened and checks that each ended with its final chunk or a cancel"
        ),
        jail=lambda folder: {"location": folder},
    )
