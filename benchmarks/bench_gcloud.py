"""Google Cloud Storage cases: the storage against google-cloud-storage doing the same work on
the same fake-gcs-server, with the same credentials and HTTP transport.

    python -m benchmarks.bench_gcloud [--scale 0.25]
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

from benchmarks.harness import Case

MiB = 1024 * 1024


class _Sink:
    """A writable that drops what it gets (the raw SDK downloads into a file object)."""

    def write(self, data: bytes) -> int:
        return len(data)


def cases(work: Path, scale: float = 1.0) -> tuple[list[Case], Callable[[], None]]:
    """Start fake-gcs-server and return the GCS cases plus a function that stops it."""
    from django.core.files import File
    from django.core.files.base import ContentFile
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
            # Both sides spend nearly all their time in one RSA-2048 signature per URL.
            target=20,
            kind="speedup",
        ),
        Case(
            "gcloud",
            "url() unsigned",
            lambda: [plain.url(k) for k in keys],
            lambda: [bucket.blob(k).public_url for k in keys],
            operations=len(keys),
            target=30,
            kind="speedup",
        ),
    ]

    small = os.urandom(4096)
    count = max(int(500 * scale), 10)
    result.append(
        Case(
            "gcloud",
            f"save {count} x 4 KB",
            lambda: [storage.save(f"small/s{i}.bin", ContentFile(small)) for i in range(count)],
            lambda: [
                bucket.blob(f"rawsmall/s{i}.bin").upload_from_string(
                    small, content_type="application/octet-stream"
                )
                for i in range(count)
            ],
            operations=count,
            target=1.15,
            repeat=3,
        )
    )

    heads = max(int(300 * scale), 30)
    bucket.blob("meta/object.bin").upload_from_string(b"x" * 4096)
    for method in ("exists", "size", "get_modified_time"):
        function = getattr(storage, method)
        result.append(
            Case(
                "gcloud",
                f"{method}() x {heads}",
                lambda function=function: [function("meta/object.bin") for _ in range(heads)],
                lambda: [bucket.get_blob("meta/object.bin") for _ in range(heads)],
                operations=heads,
                target=1.1,
                repeat=5,
            )
        )

    listed = max(int(10_000 * scale), 100)
    with ThreadPoolExecutor(16) as pool:
        list(
            pool.map(lambda i: bucket.blob(f"many/k{i:05d}").upload_from_string(b""), range(listed))
        )

    def raw_list() -> None:
        iterator = client.list_blobs(bucket_name, prefix="many/", delimiter="/")
        files = [blob.name for blob in iterator]
        dirs = sorted(iterator.prefixes)
        assert files or dirs

    result.append(
        Case(
            "gcloud",
            f"listdir {listed} keys",
            lambda: storage.listdir("many"),
            raw_list,
            operations=1,
            target=1.1,
            repeat=3,
        )
    )

    size = int(256 * MiB * scale)
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
            target=1.05,
            repeat=3,
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
            target=1.05,
            repeat=3,
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
            target=1.1,
            repeat=3,
            measure_memory=True,
        )
    )

    static_dir = Path(tempfile.mkdtemp(dir=work))
    files = max(int(1000 * scale), 10)
    for i in range(files):
        path = static_dir / f"app{i % 20}" / f"file{i}.css"
        path.parent.mkdir(exist_ok=True)
        path.write_text(f".c{i} {{ color: #{i:06x}; }}\n")
    result.append(_collectstatic_case(options, bucket, static_dir, files))

    def stop() -> None:
        client.close()
        storage.close()
        plain.close()
        server.process.stop()

    return result, stop


def _collectstatic_case(options: dict[str, Any], bucket: Any, static_dir: Path, files: int) -> Case:
    import mimetypes

    from django.core.management import call_command
    from django.test import override_settings

    storages = {
        "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
        "staticfiles": {
            "BACKEND": "storages.backends.gcloud.GoogleCloudStorage",
            "OPTIONS": {**options, "location": "static", "querystring_auth": False},
        },
    }

    def storage_run() -> None:
        with override_settings(STORAGES=storages, STATICFILES_DIRS=[str(static_dir)]):
            call_command("collectstatic", interactive=False, verbosity=0, clear=False)

    def raw_run() -> None:
        for path in static_dir.rglob("*.css"):
            blob = bucket.blob("rawstatic/" + str(path.relative_to(static_dir)))
            blob.upload_from_string(
                path.read_bytes(), content_type=mimetypes.guess_type(path.name)[0]
            )

    return Case(
        "gcloud", f"collectstatic {files} files", storage_run, raw_run, operations=files, repeat=3
    )


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
