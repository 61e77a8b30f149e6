"""FTP cases: the storage against ftplib itself doing the same work on the same pyftpdlib server
(started as in the tests: tests/servers/ftp.py, its own process), both logged in once. The raw
side uses ``storbinary``/``retrbinary`` with blocks of 1 MiB, as large as the storage's. Both
sides store the 64 MB file under a free name (the old copies are removed before each run), then
read it; a third case replaces an existing file. The storage's small saves are create-only (an
existence check, a temporary file, a check and a rename each).

    python -m benchmarks.run --only ftp [--scale 0.25]
"""

from __future__ import annotations

import ftplib
import io
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from benchmarks.harness import Case, Sink

MiB = 1024 * 1024
#: Block sizes of the raw side: as large as the storage's, so the comparison is of the rest.
RAW_UPLOAD_BLOCK = 1 * MiB
RAW_DOWNLOAD_BLOCK = 1 * MiB


def cases(work: Path, scale: float = 1.0) -> tuple[list[Case], Callable[[], None]]:
    """Start pyftpdlib and return the FTP cases plus a function that stops it."""
    from django.core.files import File
    from django.core.files.base import ContentFile
    from tests.servers.ftp import FTPServer

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

    # The files read: put on the server's disk directly (the save cases remove theirs).
    for path in (f"{area}/read.bin", f"{raw_area}/read.bin"):
        shutil.copyfile(big, server.local(path))

    def storage_read() -> None:
        with storage.open("read.bin", "rb") as handle:
            for _chunk in handle.chunks(MiB):
                pass

    def raw_read() -> None:
        raw.retrbinary(f"RETR {raw_area}/read.bin", Sink().write, blocksize=RAW_DOWNLOAD_BLOCK)

    mb = size // MiB
    for name, storage_run, raw_run, setup, target in (
        (f"save {mb} MB", storage_save, raw_save, clear_big, 1.10),
        (f"read {mb} MB", storage_read, raw_read, None, 1.10),
        # Renaming onto an existing file makes ext4 write the new one out first (its
        # auto_da_alloc), which the raw side, rewriting the file in place, does at close.
        (f"save {mb} MB over an existing file", storage_replace, raw_save, None, None),
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
            )
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
        )
    )

    heads = max(int(500 * scale), 50)
    server.local(f"{area}/meta.bin").write_bytes(b"x" * 4096)
    result.append(
        Case(
            "ftp",
            f"size() x {heads}",
            lambda: [storage.size("meta.bin") for _ in range(heads)],
            lambda: [raw.size(f"{area}/meta.bin") for _ in range(heads)],
            operations=heads,
        )
    )
    result.append(
        Case(
            "ftp",
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
    # Last: ftplib's mlsd() switches the raw connection to ASCII mode, where SIZE is refused.
    result.append(
        Case(
            "ftp",
            f"listdir ({entries} files)",
            lambda: storage.listdir("listing"),
            lambda: list(raw.mlsd(f"{area}/listing", facts=["type"])),
        )
    )

    def stop() -> None:
        storage.close()
        overwriting.close()
        raw.close()
        server.stop()

    return result, stop


def _raw_exists(raw: ftplib.FTP, path: str) -> bool:
    try:
        raw.sendcmd(f"MLST {path}")
    except ftplib.error_perm:
        return False
    return True
