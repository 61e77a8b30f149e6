"""Google Cloud Storage cases: the storage against google-cloud-storage doing the same work on
the same fake-gcs-server, with the same credentials and HTTP transport.

    python -m benchmarks.bench_gcloud [--scale 0.25]
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from benchmarks.harness import Case

MiB = 1024 * 1024


class _Sink:
    """A writable that drops what it gets (the raw SDK downloads into a file object)."""

    def write(self, data: bytes) -> int:
        return len(data)


def cases(work: Path, scale: float = 1.0) -> tuple[list[Case], Callable[[], None]]:
    """Start fake-gcs-server and return the GCS cases plus a function that stops it."""
    from django.core.files import File
    from google.cloud import storage as gcs
    from tests.servers.gcloud import FakeGcsServer, service_account_credentials

    from storages.backends.gcloud import GoogleCloudStorage

    server = FakeGcsServer()
    server.process.start()
    bucket_name = "bench-bucket"
    server.client().create_bucket(bucket_name)
    credentials = service_account_credentials()
    options = server.options(bucket_name, credentials=credentials)
    storage = GoogleCloudStorage(**options)
    plain = GoogleCloudStorage(**options, querystring_auth=False)
    client = gcs.Client(
        project=options["project_id"],
        credentials=credentials,
        client_options=options["client_options"],
    )
    bucket = client.bucket(bucket_name)
    storage.url("warm-up")
    plain.url("warm-up")

    keys = [f"media/photos/img_{i:05d} ü+.jpg" for i in range(max(int(2000 * scale), 200))]
    day = timedelta(days=1)
    result: list[Case] = [
        Case(
            "gcloud",
            "url() signed",
            lambda: [storage.url(k) for k in keys],
            lambda: [
                bucket.blob(k).generate_signed_url(
                    version="v4", expiration=day, credentials=credentials
                )
                for k in keys
            ],
            operations=len(keys),
            kind="speedup",
        ),
        Case(
            "gcloud",
            "url() unsigned",
            lambda: [plain.url(k) for k in keys],
            lambda: [bucket.blob(k).public_url for k in keys],
            operations=len(keys),
            kind="speedup",
        ),
    ]

    heads = max(int(300 * scale), 30)
    bucket.blob("meta/object.bin").upload_from_string(b"x" * 4096)
    result.append(
        Case(
            "gcloud",
            f"size() x {heads}",
            lambda: [storage.size("meta/object.bin") for _ in range(heads)],
            lambda: [bucket.get_blob("meta/object.bin").size for _ in range(heads)],
            operations=heads,
        )
    )

    size = int(64 * MiB * scale)
    big = work / "big.bin"
    with big.open("wb") as handle:
        for _ in range(size // MiB):
            handle.write(os.urandom(MiB))

    def storage_save() -> None:
        with big.open("rb") as handle:
            storage.save("big/storage.bin", File(handle))

    def raw_save() -> None:
        with big.open("rb") as handle:
            bucket.blob("big/raw.bin").upload_from_file(handle)

    def storage_read() -> None:
        with storage.open("big/storage.bin", "rb") as handle:
            for _chunk in handle.chunks(MiB):
                pass

    def raw_read() -> None:
        bucket.blob("big/raw.bin").download_to_file(_Sink())

    def raw_save_same_chunks() -> None:
        with big.open("rb") as handle:
            bucket.blob("big/raw16.bin", chunk_size=16 * MiB).upload_from_file(handle)

    result.append(
        Case(
            "gcloud",
            f"save {size // MiB} MB",
            storage_save,
            raw_save,
            bytes=size,
            repeat=9,
            measure_memory=True,
        )
    )
    # The SDK sends a known-size file above 8 MiB in one 100 MiB chunk by default; with the
    # storage's default chunk size (16 MiB) both pay the emulator's per-chunk cost alike.
    result.append(
        Case(
            "gcloud",
            f"save {size // MiB} MB (SDK in 16 MiB chunks)",
            storage_save,
            raw_save_same_chunks,
            bytes=size,
            repeat=9,
            measure_memory=True,
        )
    )
    result.append(
        Case(
            "gcloud",
            f"read {size // MiB} MB",
            storage_read,
            raw_read,
            bytes=size,
            repeat=9,
            measure_memory=True,
        )
    )

    def stop() -> None:
        client.close()
        storage.close()
        plain.close()
        server.process.stop()

    return result, stop


def main() -> int:
    """Run the GCS cases alone and print the table."""
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
