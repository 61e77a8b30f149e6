"""FTP cases: the storage against ftplib itself doing the same work on the same pyftpdlib server
(started as in the tests: tests/servers/ftp.py, its own process), both logged in once, and
django-storages' FTPStorage (the peer, in its own process) beside them. The raw
side uses ``storbinary``/``retrbinary`` with blocks of 1 MiB, as large as the storage's. Both
sides store the 64 MB file under a free name (the old copies are removed before each run), then
read it; a third case replaces an existing file. The storage's small saves are create-only (a
temporary file, a check that the name is free, and a rename each). The raw side's streamed reads
are ``retrbinary`` into a list joined at the end (``read()``), or into a sink in blocks of 1 MiB
(``chunks``) and 64 KiB (``copyfileobj``'s size).

    python -m benchmarks.run --only ftp [--scale 0.25]
"""

from __future__ import annotations

import ftplib
import io
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.harness import META_CALLS, META_REPEAT, Case, Sink, place_file, read_cases

MiB = 1024 * 1024
#: Block sizes of the raw side: as large as the storage's, so the comparison is of the rest.
RAW_UPLOAD_BLOCK = 1 * MiB
RAW_DOWNLOAD_BLOCK = 1 * MiB
#: What ``shutil.copyfileobj`` asks for at a time.
COPY_BLOCK = 64 * 1024
#: The sizes of the files read, at scale 1 (MiB).
READ_SIZES = (256, 64)


def cases(work: Path, scale: float = 1.0) -> tuple[list[Case], Callable[[], None], dict[str, Any]]:
    """Start pyftpdlib; return the FTP cases, a function that stops it, the peer's options."""
    from django.core.files import File
    from django.core.files.base import ContentFile
    from tests.servers.ftp import PASSWORD, FTPServer

    from storages.backends.ftp import FTPStorage

    server = FTPServer()
    server.process.start()
    area = "/bench"
    server.local(f"{area}/raw").mkdir(parents=True)
    storage = FTPStorage(location=server.url(area))
    overwriting = FTPStorage(location=server.url(area), file_overwrite=True)
    raw = server.raw()
    raw_area = f"{area}/raw"
    storage.exists("warm-up")
    overwriting.exists("warm-up")

    result: list[Case] = []
    size = max(int(64 * MiB * scale) // MiB, 1) * MiB
    big = work / "ftp-big.bin"
    with big.open("wb") as handle:
        for _ in range(size // MiB):
            handle.write(os.urandom(MiB))

    def storage_save() -> None:
        with big.open("rb") as handle:
            storage.save("big/storage.bin", File(handle))

    def raw_save() -> None:
        with big.open("rb") as handle:
            raw.storbinary(f"STOR {raw_area}/big.bin", handle, blocksize=RAW_UPLOAD_BLOCK)

    def storage_replace() -> None:
        with big.open("rb") as handle:
            overwriting.save("big/storage.bin", File(handle))

    def clear_big() -> None:
        for path in (f"{area}/big/storage.bin", f"{raw_area}/big.bin"):
            server.local(path).unlink(missing_ok=True)

    mb = size // MiB
    for name, storage_run, raw_run, setup, target, peer in (
        (
            f"save {mb} MB",
            storage_save,
            raw_save,
            clear_big,
            1.10,
            {"do": "save_file", "path": str(big), "name": "big/peer.bin"},
        ),
        # Renaming onto an existing file makes ext4 write the new one out first (its
        # auto_da_alloc), which the raw side, rewriting the file in place, does at close.
        (f"save {mb} MB over an existing file", storage_replace, raw_save, None, None, None),
    ):
        result.append(
            Case(
                "ftp",
                name,
                storage_run,
                raw_run,
                bytes=size,
                target=target,
                repeat=5,
                measure_memory=True,
                setup=setup,
                peer=peer,
            )
        )

    # The files read: put on the server's disk directly.
    for read_mb in READ_SIZES:
        read_size = max(int(read_mb * MiB * scale) // MiB, 1) * MiB
        name = f"read/{read_size}.bin"
        place_file(big, server.local(f"{area}/{name}"), read_size)

        def raw_read(mode: str, remote: str = f"{area}/{name}") -> None:
            if mode == "read()":
                parts: list[bytes] = []
                raw.retrbinary(f"RETR {remote}", parts.append, blocksize=RAW_DOWNLOAD_BLOCK)
                b"".join(parts)
            else:
                block = RAW_DOWNLOAD_BLOCK if mode.startswith("chunks") else COPY_BLOCK
                raw.retrbinary(f"RETR {remote}", Sink().write, blocksize=block)

        result += read_cases(
            "ftp",
            read_size,
            lambda name=name: storage.open(name, "rb"),
            raw_read,
            {"do": "read", "name": name},
        )

    small = max(int(200 * scale), 20)
    body = os.urandom(1024)
    counter = iter(range(10**9))

    def clear_small() -> None:
        for folder in (server.local(f"{area}/small"), server.local(f"{raw_area}/small")):
            shutil.rmtree(folder, ignore_errors=True)
        raw.mkd(f"{raw_area}/small")

    def storage_small() -> None:
        run = next(counter)
        for i in range(small):
            storage.save(f"small/{run}-{i}.bin", ContentFile(body))

    def raw_small() -> None:
        run = next(counter)
        for i in range(small):
            raw.storbinary(f"STOR {raw_area}/small/{run}-{i}.bin", io.BytesIO(body))

    result.append(
        Case(
            "ftp",
            f"save 1 KB x {small} (create-only)",
            storage_small,
            raw_small,
            operations=small,
            setup=clear_small,
            peer={"do": "save_many", "names": "small/p{run}-{i}.bin", "count": small, "size": 1024},
        )
    )

    heads = META_CALLS
    server.local(f"{area}/meta.bin").write_bytes(b"x" * 4096)
    result.append(
        Case(
            "ftp",
            f"size() x {heads}",
            lambda: [storage.size("meta.bin") for _ in range(heads)],
            lambda: [raw.size(f"{area}/meta.bin") for _ in range(heads)],
            operations=heads,
            repeat=META_REPEAT,
            target=1.1,
            peer={"do": "meta", "method": "size", "name": "meta.bin", "count": heads},
        )
    )
    result.append(
        Case(
            "ftp",
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
    # Last: ftplib's mlsd() switches the raw connection to ASCII mode, where SIZE is refused.
    result.append(
        Case(
            "ftp",
            f"listdir ({entries} files)",
            lambda: storage.listdir("listing"),
            lambda: list(raw.mlsd(f"{area}/listing", facts=["type"])),
            peer={"do": "listdir", "path": "listing"},
        )
    )

    def stop() -> None:
        storage.close()
        overwriting.close()
        raw.close()
        server.stop()

    # django-storages cannot take this password in a location (see benchmarks.peer.build).
    peer = {
        "options": {"location": server.url(area, password="stand-in"), "ftp_password": PASSWORD}
    }
    return result, stop, peer


def _raw_exists(raw: ftplib.FTP, path: str) -> bool:
    try:
        raw.sendcmd(f"MLST {path}")
    except ftplib.error_perm:
        return False
    return True
