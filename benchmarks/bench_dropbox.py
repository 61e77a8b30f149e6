"""Dropbox cases: the storage against the official ``dropbox`` SDK doing the same work on the same
fake Dropbox API (tests/servers/dropbox.py), same token, same 4 MiB chunks.

The fake runs in a child process, not in a thread of this one: in a thread it would take the GIL
from the client under test and its buffering (it holds whole request bodies and stored files in
memory) would count in the peak RSS measured here. The raw side is what a user of the SDK writes:
``files_upload`` for small files, an upload session (start, append_v2, finish carrying the last
chunk) for the large one, ``files_download`` streamed, ``files_list_folder`` and ``continue``,
``files_get_metadata``. It sends no ``content_hash``; the storage hashes every request body and
checks the file's hash after the commit (one more case sends hashes on the raw side too). The
raw client is the fake's own (``FakeDropbox.sdk()``: a session with ``trust_env`` off); the
storage's session keeps ``trust_env`` on, so requests reads the proxy variables of the
environment on every call (about 0.5 ms a request on a fake that answers in about 1 ms).

    python -m benchmarks.run --only dropbox [--scale 0.25]
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.harness import META_CALLS, META_REPEAT, Case

MiB = 1024 * 1024
#: The chunk of both sides' upload sessions (the storage's CHUNK_SIZE, a multiple of 4 MiB).
CHUNK = 4 * MiB
#: Size of the small files saved one after the other.
SMALL = 4096
#: Seconds to wait for the child process to bring the fake up, and to go away.
START_TIMEOUT = 60
STOP_TIMEOUT = 10


def _serve(directory: str, conn: Any) -> None:
    """In the child: start the fake, send its port and token, serve until told to stop."""
    from tests.servers import dropbox as server
    from tests.servers.azure import make_tls_files

    make_tls_files(Path(directory))
    fake = server.FakeDropbox(Path(directory) / "cert.pem", Path(directory) / "key.pem").start()
    conn.send((fake.port, fake.token))
    conn.recv()  # anything, or the parent going away, means stop
    fake.stop()


def _start_fake() -> tuple[Any, Callable[[], None]]:
    """Start the fake in a child process; return a local handle to it and a stop function."""
    from tests.servers.dropbox import FakeDropbox

    directory = tempfile.mkdtemp(prefix="stowage-bench-dropbox-")
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=_serve, args=(directory, theirs), daemon=True)
    process.start()
    if not ours.poll(START_TIMEOUT):
        process.kill()
        raise RuntimeError("the fake Dropbox server did not start")
    port, token = ours.recv()
    # Not started here: only its helpers that build clients for the child's server are used.
    fake = FakeDropbox(Path(directory) / "cert.pem", Path(directory) / "key.pem")
    fake.port, fake.token = port, token

    def stop() -> None:
        with contextlib.suppress(OSError):
            ours.send("stop")
        process.join(STOP_TIMEOUT)
        if process.is_alive():
            process.kill()
        shutil.rmtree(directory, ignore_errors=True)

    return fake, stop


def _raw_session_upload(raw: Any, handle: Any, path: str, content_hash: bool = False) -> Any:
    """Upload ``handle`` to ``path`` in CHUNK pieces through an upload session (overwrite)."""
    from dropbox.files import CommitInfo, UploadSessionCursor, WriteMode

    from storages.backends._dropbox_transfer import ContentHash

    def digest(data: bytes) -> str | None:
        return ContentHash().add(data) if content_hash else None

    data = handle.read(CHUNK)
    started = raw.files_upload_session_start(data, content_hash=digest(data))
    cursor = UploadSessionCursor(started.session_id, len(data))
    commit = CommitInfo(path=path, mode=WriteMode.overwrite)
    data = handle.read(CHUNK)
    while True:
        following = handle.read(CHUNK)
        if not following:
            return raw.files_upload_session_finish(data, cursor, commit, content_hash=digest(data))
        raw.files_upload_session_append_v2(data, cursor, content_hash=digest(data))
        cursor.offset += len(data)
        data = following


def _raw_exists(raw: Any, path: str) -> bool:
    from dropbox.exceptions import ApiError

    try:
        raw.files_get_metadata(path)
    except ApiError:
        return False
    return True


def _raw_listdir(raw: Any, path: str) -> list[str]:
    page = raw.files_list_folder(path)
    names = [entry.name for entry in page.entries]
    while page.has_more:
        page = raw.files_list_folder_continue(page.cursor)
        names += [entry.name for entry in page.entries]
    return names


def cases(work: Path, scale: float = 1.0) -> tuple[list[Case], Callable[[], None], dict[str, Any]]:
    """Start the fake Dropbox API and return the Dropbox cases plus a function that stops it."""
    from django.core.files import File
    from django.core.files.base import ContentFile
    from dropbox.files import WriteMode

    from storages.backends._dropbox_settings import ca_session
    from storages.backends.dropbox import DropboxStorage

    fake, stop_fake = _start_fake()
    root = "/bench"
    storage = DropboxStorage(**fake.options(root_path=root))
    overwriting = DropboxStorage(**fake.options(root_path=root, file_overwrite=True))
    raw = fake.sdk()
    # The kind of requests session the storage makes for a CA file: like the SDK's own, it
    # honours proxies from the environment, which costs requests an environment scan per
    # request (the tests' session skips that scan, which no user's session does).
    raw._session = ca_session(str(fake.cert))
    raw_root = f"{root}/raw"
    storage.exists("warm-up")  # build the clients and open their connections before measuring
    overwriting.exists("warm-up")
    _raw_exists(raw, f"{raw_root}/warm-up")

    small = os.urandom(SMALL)
    count = max(int(200 * scale), 10)

    def storage_overwrite() -> None:
        for i in range(count):
            overwriting.save(f"small/o{i}.bin", ContentFile(small))

    def raw_overwrite() -> None:
        for i in range(count):
            raw.files_upload(small, f"{raw_root}/small/o{i}.bin", mode=WriteMode.overwrite)

    def free_area() -> str:
        return os.urandom(4).hex()  # a new folder each repetition, so every name is free

    def storage_free() -> None:
        area = free_area()
        for i in range(count):
            storage.save(f"free/{area}/s{i}.bin", ContentFile(small))

    def raw_free() -> None:
        area = free_area()
        for i in range(count):
            raw.files_upload(small, f"{raw_root}/free/{area}/s{i}.bin")

    result = [
        Case(
            "dropbox",
            f"save {count} x 4 KB (overwrite)",
            storage_overwrite,
            raw_overwrite,
            operations=count,
            peer={
                "do": "save_many",
                "names": "small/po{i}.bin",
                "count": count,
                "size": SMALL,
                "options": {"write_mode": "overwrite"},
            },
        ),
        Case(
            "dropbox",
            f"save {count} x 4 KB (create-only, free names)",
            # The storage's exists() check and an ``add`` upload, against an ``add`` upload.
            storage_free,
            raw_free,
            operations=count,
            peer={
                "do": "save_many",
                "names": "pfree/{run}/s{i}.bin",
                "count": count,
                "size": SMALL,
            },
        ),
    ]

    heads = META_CALLS
    raw.files_upload(small, f"{root}/meta/object.bin")
    result += [
        Case(
            "dropbox",
            f"size() x {heads}",
            lambda: [storage.size("meta/object.bin") for _ in range(heads)],
            lambda: [raw.files_get_metadata(f"{root}/meta/object.bin").size for _ in range(heads)],
            operations=heads,
            repeat=META_REPEAT,
            peer={"do": "meta", "method": "size", "name": "meta/object.bin", "count": heads},
        ),
        Case(
            "dropbox",
            f"exists() x {heads} (missing)",
            lambda: [storage.exists("meta/missing.bin") for _ in range(heads)],
            lambda: [_raw_exists(raw, f"{root}/meta/missing.bin") for _ in range(heads)],
            operations=heads,
            repeat=META_REPEAT,
            peer={"do": "meta", "method": "exists", "name": "meta/missing.bin", "count": heads},
        ),
    ]

    entries = max(int(1000 * scale), 100)
    for i in range(entries):
        raw.files_upload(b"x", f"{root}/listing/file-{i:05d}.txt")
    result.append(
        Case(
            "dropbox",
            f"listdir ({entries} files)",
            lambda: storage.listdir("listing"),
            lambda: _raw_listdir(raw, f"{root}/listing"),
            peer={"do": "listdir", "path": "listing"},
        )
    )

    size = max(int(64 * MiB * scale) // MiB, 1) * MiB
    big = work / "dropbox-big.bin"
    with big.open("wb") as handle:
        for _ in range(size // MiB):
            handle.write(os.urandom(MiB))

    def storage_save() -> None:
        with big.open("rb") as handle:
            overwriting.save("big/storage.bin", File(handle))

    def raw_save(content_hash: bool = False) -> None:
        with big.open("rb") as handle:
            _raw_session_upload(raw, handle, f"{raw_root}/big.bin", content_hash)

    def storage_read() -> None:
        with storage.open("big/storage.bin", "rb") as handle:
            for _chunk in handle.chunks(MiB):
                pass

    def raw_read() -> None:
        _meta, response = raw.files_download(f"{raw_root}/big.bin")
        with response:
            for _chunk in response.iter_content(MiB):
                pass

    # Both big files exist before any case runs, so a read case can run alone (--match read).
    # So peak RSS growth counts only memory beyond what one transfer took already: in a fresh
    # process either side grows by about 7 MB on the first 64 MB save (its 4 MiB chunks).
    storage_save()
    raw_save()
    result += [
        Case(
            "dropbox",
            f"save {size // MiB} MB",
            storage_save,
            raw_save,
            bytes=size,
            measure_memory=True,
            peer={"do": "save_file", "path": str(big), "name": "big/peer.bin"},
        ),
        Case(
            "dropbox",
            f"save {size // MiB} MB (raw sends content_hash too)",
            storage_save,
            lambda: raw_save(content_hash=True),
            bytes=size,
            repeat=3,
            measure_memory=True,
        ),
        Case(
            "dropbox",
            f"read {size // MiB} MB",
            storage_read,
            raw_read,
            bytes=size,
            measure_memory=True,
            peer={"do": "read", "name": "big/storage.bin", "how": "chunks(1 MiB)"},
        ),
    ]

    def stop() -> None:
        storage.close()
        overwriting.close()
        raw.close()
        stop_fake()

    # django-storages has no host settings: the SDK's own variables point it at the fake, and
    # requests' CA variable makes it trust the fake's certificate.
    peer = {
        "options": {"oauth2_access_token": fake.token, "root_path": root},
        "env": {
            "DROPBOX_API_HOST": fake.api_host,
            "DROPBOX_API_CONTENT_HOST": fake.content_host,
            "REQUESTS_CA_BUNDLE": str(fake.cert),
        },
    }
    return result, stop, peer
