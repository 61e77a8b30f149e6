"""Azure Blob Storage cases: the storage against azure-storage-blob doing the same work on the
same Azurite, with the same account and block size (measured, not asserted).

    python -m benchmarks.bench_azure [--scale 0.25]
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

from benchmarks.harness import Case

MiB = 1024 * 1024


class _Sink:
    """A writable that drops what it gets (the raw SDK downloads into a file object)."""

    def write(self, data: bytes) -> int:
        return len(data)


def cases(work: Path, scale: float = 1.0) -> tuple[list[Case], Callable[[], None]]:
    """Start Azurite and return the Azure cases plus a function that stops it."""
    from azure.storage.blob import BlobServiceClient, generate_blob_sas
    from django.core.files import File
    from django.core.files.base import ContentFile
    from tests.servers.azure import ACCOUNT, KEY, Azurite

    from storages.backends.azure_storage import AzureStorage

    server = Azurite()
    server.process.start()
    container_name = "bench-container"
    service = BlobServiceClient.from_connection_string(
        server.connection_string(), max_block_size=4 * MiB, max_single_put_size=4 * MiB
    )
    container = service.create_container(container_name)
    options = server.options(container_name)
    storage = AzureStorage(**options)
    signed = AzureStorage(**options, expiration_secs=3600)
    overwriting = AzureStorage(**options, file_overwrite=True)
    signed.url("warm-up")
    storage.url("warm-up")

    keys = [f"media/photos/img_{i:05d} ü+.jpg" for i in range(max(int(2000 * scale), 200))]

    def raw_signed() -> None:
        expiry = datetime.now(timezone.utc) + timedelta(seconds=3600)
        for k in keys:
            blob = container.get_blob_client(k)
            token = generate_blob_sas(
                ACCOUNT, container_name, k, account_key=KEY, permission="r", expiry=expiry
            )
            _ = f"{blob.url}?{token}"

    result: list[Case] = [
        Case(
            "azure",
            "url() SAS",
            lambda: [signed.url(k) for k in keys],
            raw_signed,
            operations=len(keys),
            kind="speedup",
        ),
        Case(
            "azure",
            "url() plain",
            lambda: [storage.url(k) for k in keys],
            lambda: [container.get_blob_client(k).url for k in keys],
            operations=len(keys),
            kind="speedup",
        ),
    ]

    heads = max(int(300 * scale), 30)
    container.upload_blob("meta/object.bin", b"x" * 4096)
    result.append(
        Case(
            "azure",
            f"size() x {heads}",
            lambda: [storage.size("meta/object.bin") for _ in range(heads)],
            lambda: [
                container.get_blob_client("meta/object.bin").get_blob_properties().size
                for _ in range(heads)
            ],
            operations=heads,
        )
    )
    result.append(
        Case(
            "azure",
            f"exists() x {heads}",
            lambda: [storage.exists("meta/object.bin") for _ in range(heads)],
            lambda: [container.get_blob_client("meta/object.bin").exists() for _ in range(heads)],
            operations=heads,
        )
    )

    small = max(int(200 * scale), 20)
    body = b"s" * 2048
    result.append(
        Case(
            "azure",
            f"small save x {small} (overwrite)",
            lambda: [overwriting.save(f"small/s{i}.txt", ContentFile(body)) for i in range(small)],
            lambda: [
                container.upload_blob(f"small/r{i}.txt", body, overwrite=True) for i in range(small)
            ],
            operations=small,
        )
    )

    listed = max(int(500 * scale), 50)
    for i in range(listed):
        container.upload_blob(f"listing/f{i:05d}.txt", b"l")
    for i in range(20):
        container.upload_blob(f"listing/d{i:02d}/inner.txt", b"l")
    result.append(
        Case(
            "azure",
            f"listdir ({listed} files + 20 dirs)",
            lambda: storage.listdir("listing"),
            lambda: [b.name for b in container.walk_blobs(name_starts_with="listing/")],
            operations=1,
        )
    )

    size = int(64 * MiB * scale)
    big = work / "big.bin"
    with big.open("wb") as handle:
        for _ in range(size // MiB):
            handle.write(os.urandom(MiB))

    def storage_save() -> None:
        with big.open("rb") as handle:
            overwriting.save("big/storage.bin", File(handle))

    def raw_save() -> None:
        with big.open("rb") as handle:
            container.upload_blob("big/raw.bin", handle, overwrite=True, max_concurrency=2)

    def storage_read() -> None:
        with storage.open("big/storage.bin", "rb") as handle:
            for _chunk in handle.chunks(MiB):
                pass

    def raw_read() -> None:
        container.download_blob("big/raw.bin").readinto(_Sink())

    result.append(
        Case(
            "azure",
            f"save {size // MiB} MB",
            storage_save,
            raw_save,
            bytes=size,
            repeat=7,
            measure_memory=True,
        )
    )
    result.append(
        Case(
            "azure",
            f"read {size // MiB} MB",
            storage_read,
            raw_read,
            bytes=size,
            repeat=7,
            measure_memory=True,
        )
    )

    def stop() -> None:
        for each in (storage, signed, overwriting):
            each.close()
        service.close()
        server.process.stop()

    return result, stop


def main() -> int:
    """Run the Azure cases alone and print the table."""
    import argparse
    import shutil
    import tempfile

    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root))
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()

    import tests.conftest  # noqa: F401 - configures Django like the test suite

    from benchmarks.harness import run_case, table

    work = Path(tempfile.mkdtemp(prefix="stowage-bench-"))
    try:
        found, stop = cases(work, args.scale)
        try:
            results = [run_case(case, log=lambda line: print(line, flush=True)) for case in found]
        finally:
            stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
