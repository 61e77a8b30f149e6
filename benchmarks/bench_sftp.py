"""SFTP cases: the storage against paramiko's SFTPClient doing the same work on the same sshd
(started as in the tests: tests/servers/sftpstorage.py), both logged in with the same key and
both with TCP_NODELAY, and django-storages' SFTPStorage (the peer, in its own process) beside
them. The raw side uses ``putfo`` (pipelined writes, then a stat that confirms the size) for
every save, and for reads paramiko's pipelined ones: ``prefetch()`` and ``read()`` for
``read()``, ``getfo`` for the others. The storage's small saves are create-only: open a
temporary file, write and close it (pipelined: one round trip), rename it into place (SFTP's
rename refuses a taken name), where ``putfo`` opens, writes and closes, then stats.

    python -m benchmarks.run --only sftp [--scale 0.25]
"""

from __future__ import annotations

import io
import os
import shutil
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.harness import META_CALLS, META_REPEAT, Case, Sink, place_file, read_cases

MiB = 1024 * 1024
#: The sizes of the files read, at scale 1 (MiB).
READ_SIZES = (256, 64)


def cases(work: Path, scale: float = 1.0) -> tuple[list[Case], Callable[[], None], dict[str, Any]]:
    """Start sshd; return the SFTP cases, a function that stops it, the peer's options."""
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

    result.append(
        Case(
            "sftp",
            f"save {size // MiB} MB",
            storage_save,
            raw_save,
            bytes=size,
            repeat=5,
            measure_memory=True,
            peer={"do": "save_file", "path": str(big), "name": "big/peer.bin"},
        )
    )
    for mb in READ_SIZES:
        read_size = max(int(mb * MiB * scale) // MiB, 1) * MiB
        name = f"read/{read_size}.bin"
        place_file(big, server.local(f"{area}/{name}"), read_size)

        def raw_read(mode: str, remote: str = f"{area}/{name}", length: int = read_size) -> None:
            if mode == "read()":
                with raw.open(remote, "rb") as handle:
                    handle.prefetch(length)
                    handle.read()
            else:
                raw.getfo(remote, Sink())

        result += read_cases(
            "sftp",
            read_size,
            lambda name=name: storage.open(name, "rb"),
            raw_read,
            {"do": "read", "name": name},
            # django-storages reads SFTP files one request at a time (a few MB/s here): once.
            peer_repeat=1,
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
            raw.putfo(io.BytesIO(body), f"{raw_area}/small/{run}-{i}.bin")

    result.append(
        Case(
            "sftp",
            f"save 1 KB x {small} (create-only)",
            storage_small,
            raw_small,
            operations=small,
            setup=clear_small,
            target=1.5,
            peer={"do": "save_many", "names": "small/p{run}-{i}.bin", "count": small, "size": 1024},
        )
    )

    heads = META_CALLS
    raw.putfo(io.BytesIO(b"x" * 4096), f"{area}/meta.bin")
    result.append(
        Case(
            "sftp",
            f"size() x {heads}",
            lambda: [storage.size("meta.bin") for _ in range(heads)],
            lambda: [raw.stat(f"{area}/meta.bin").st_size for _ in range(heads)],
            operations=heads,
            repeat=META_REPEAT,
            target=1.1,
            peer={"do": "meta", "method": "size", "name": "meta.bin", "count": heads},
        )
    )
    result.append(
        Case(
            "sftp",
            f"exists() x {heads}",
            lambda: [storage.exists("missing.bin") for _ in range(heads)],
            lambda: [_raw_exists(raw, f"{area}/missing.bin") for _ in range(heads)],
            operations=heads,
            repeat=META_REPEAT,
            target=1.1,
            peer={"do": "meta", "method": "exists", "name": "missing.bin", "count": heads},
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
            peer={"do": "listdir", "path": "listing"},
        )
    )

    def stop() -> None:
        storage.close()
        overwriting.close()
        raw.close()
        raw.ssh.close()
        server.stop()
        shutil.rmtree(server.dir, ignore_errors=True)

    return result, stop, {"options": server.options(area)}


def _raw_exists(raw: object, path: str) -> bool:
    try:
        raw.stat(path)  # type: ignore[attr-defined]
    except FileNotFoundError:
        return False
    return True
