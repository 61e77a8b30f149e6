"""Google Cloud Storage cases: the storage against google-cloud-storage doing the same work on
the same fake-gcs-server, with the same credentials and HTTP transport.

    python -m benchmarks.run --only gcloud [--scale 0.25]
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

from benchmarks.harness import Case, Sink, collectstatic_case, static_tree

MiB = 1024 * 1024


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
            repeat=5,
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
        bucket.blob("big/raw.bin").download_to_file(Sink())

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
            repeat=5,
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
            repeat=5,
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
            repeat=5,
            measure_memory=True,
        )
    )

    static_dir, files = static_tree(work, scale)
    result.append(
        collectstatic_case(
            "gcloud",
            "storages.backends.gcloud.GoogleCloudStorage",
            {**options, "location": "static", "querystring_auth": False},
            static_dir,
            files,
            lambda key, body, content_type: bucket.blob(key).upload_from_string(
                body, content_type=content_type
            ),
        )
    )

    def stop() -> None:
        client.close()
        storage.close()
        plain.close()
        server.process.stop()

    return result, stop
