"""SFTP cases: the storage against paramiko's SFTPClient doing the same work on the same sshd
(started as in the tests: tests/servers/sftpstorage.py), both logged in with the same key and
both with TCP_NODELAY. The raw side uses ``putfo``/``getfo`` (whole-file pipelining) for the
large file and plain ``open``/``write`` for small ones; the storage's small saves are
create-only (an existence check, a temporary file and a rename each).

    python -m benchmarks.run --only sftp [--scale 0.25]
"""

from __future__ import annotations

import io
import os
import shutil
import socket
from collections.abc import Callable
from pathlib import Path

from benchmarks.harness import Case, Sink

MiB = 1024 * 1024


def cases(work: Path, scale: float = 1.0) -> tuple[list[Case], Callable[[], None]]:
    """Start sshd and return the SFTP cases plus a function that stops it."""
    from django.core.files import File
    from django.core.files.base import ContentFile
    from tests.servers.sftpstorage import SSHServer

    from storages.backends.sftpstorage import SFTPStorage

    server = SSHServer()
    server.prepare()
    server.start()
    area = "/areas/bench"
    server.local(area).mkdir()
    storage = SFTPStorage(**server.options(area))
    overwriting = SFTPStorage(**server.options(area), file_overwrite=True)
    raw = server.raw()
    # Like the storage, without Nagle's algorithm: paramiko's default would make the raw side
    # wait for delayed ACKs (about 40 ms) on pipelined requests, which measures a setting, not
    # the storage's own cost.
    raw.ssh.get_transport().sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    raw_area = f"{area}/raw"
    raw.mkdir(raw_area)
    storage.exists("warm-up")
    overwriting.exists("warm-up")

    result: list[Case] = []
    size = max(int(64 * MiB * scale) // MiB, 1) * MiB
    big = work / "sftp-big.bin"
    with big.open("wb") as handle:
        for _ in range(size // MiB):
            handle.write(os.urandom(MiB))

    def storage_save() -> None:
        with big.open("rb") as handle:
            overwriting.save("big/storage.bin", File(handle))

    def raw_save() -> None:
        with big.open("rb") as handle:
            raw.putfo(handle, f"{raw_area}/big.bin", file_size=size)

    def storage_read() -> None:
        with storage.open("big/storage.bin", "rb") as handle:
            for _chunk in handle.chunks(MiB):
                pass

    def raw_read() -> None:
        raw.getfo(f"{raw_area}/big.bin", Sink())

    result.append(
        Case(
            "sftp",
            f"save {size // MiB} MB",
            storage_save,
            raw_save,
            bytes=size,
            repeat=5,
            measure_memory=True,
        )
    )
    result.append(
        Case(
            "sftp",
            f"read {size // MiB} MB",
            storage_read,
            raw_read,
            bytes=size,
            repeat=5,
            measure_memory=True,
        )
    )

    small = max(int(200 * scale), 20)
    body = os.urandom(1024)
    counter = iter(range(10**9))

    def clear_small() -> None:
        for folder in (server.local(f"{area}/small"), server.local(f"{raw_area}/small")):
            shutil.rmtree(folder, ignore_errors=True)
        raw.mkdir(f"{raw_area}/small")

    def storage_small() -> None:
        run = next(counter)
        for i in range(small):
            storage.save(f"small/{run}-{i}.bin", ContentFile(body))

    def raw_small() -> None:
        run = next(counter)
        for i in range(small):
            with raw.open(f"{raw_area}/small/{run}-{i}.bin", "wb") as handle:
                handle.write(body)

    result.append(
        Case(
            "sftp",
            f"save 1 KB x {small} (create-only)",
            storage_small,
            raw_small,
            operations=small,
            setup=clear_small,
        )
    )

    heads = max(int(500 * scale), 50)
    raw.putfo(io.BytesIO(b"x" * 4096), f"{area}/meta.bin")
    result.append(
        Case(
            "sftp",
            f"size() x {heads}",
            lambda: [storage.size("meta.bin") for _ in range(heads)],
            lambda: [raw.stat(f"{area}/meta.bin").st_size for _ in range(heads)],
            operations=heads,
        )
    )
    result.append(
        Case(
            "sftp",
            f"exists() x {heads}",
            lambda: [storage.exists("missing.bin") for _ in range(heads)],
            lambda: [_raw_exists(raw, f"{area}/missing.bin") for _ in range(heads)],
            operations=heads,
        )
    )

    entries = max(int(1000 * scale), 100)
    folder = server.local(f"{area}/listing")
    folder.mkdir()
    for i in range(entries):
        (folder / f"file-{i:05d}.txt").write_bytes(b"x")
    result.append(
        Case(
            "sftp",
            f"listdir ({entries} files)",
            lambda: storage.listdir("listing"),
            lambda: raw.listdir_attr(f"{area}/listing"),
        )
    )

    def stop() -> None:
        storage.close()
        overwriting.close()
        raw.close()
        raw.ssh.close()
        server.stop()
        shutil.rmtree(server.dir, ignore_errors=True)

    return result, stop


def _raw_exists(raw: object, path: str) -> bool:
    try:
        raw.stat(path)  # type: ignore[attr-defined]
    except FileNotFoundError:
        return False
    return True
