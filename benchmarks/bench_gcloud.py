"""Google Cloud Storage cases: the storage against google-cloud-storage doing the same work on
the same fake-gcs-server, with the same credentials and HTTP transport, and django-storages'
GoogleCloudStorage (the peer, in its own process) beside them. django-storages has no option for
the API endpoint: the peer reaches the emulator through ``STORAGE_EMULATOR_HOST``.

The raw side's streamed reads: ``download_as_bytes()`` for ``read()``, the SDK's file object
(``blob.open("rb")``, ranged requests of its default chunk) read in 1 MiB pieces for ``chunks``
and copied with ``shutil.copyfileobj``.

    python -m benchmarks.run --only gcloud [--scale 0.25]
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    META_CALLS,
    META_REPEAT,
    Case,
    collectstatic_case,
    consume_stream,
    listdir_case,
    read_cases,
    static_tree,
)

MiB = 1024 * 1024
#: The sizes of the files read, at scale 1 (MiB).
READ_SIZES = (256, 64)


def cases(work: Path, scale: float = 1.0) -> tuple[list[Case], Callable[[], None], dict[str, Any]]:
    """Start fake-gcs-server; return the GCS cases, a function that stops it, the peer's way
    to the same server."""
    from django.core.files import File
    from django.core.files.base import ContentFile
    from google.cloud import storage as gcs
    from tests.servers.gcloud import (
        FakeGcsServer,
        service_account_credentials,
        service_account_info,
    )

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
            peer={"do": "url", "keys": keys},
        ),
        Case(
            "gcloud",
            "url() unsigned",
            lambda: [plain.url(k) for k in keys],
            lambda: [bucket.blob(k).public_url for k in keys],
            operations=len(keys),
            target=30,
            kind="speedup",
            peer={"do": "url", "keys": keys, "options": {"querystring_auth": False}},
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
            peer={"do": "save_many", "names": "peersmall/s{i}.bin", "count": count, "size": 4096},
        )
    )

    heads = META_CALLS
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
                repeat=META_REPEAT,
                target=1.1,
                peer={"do": "meta", "method": method, "name": "meta/object.bin", "count": heads},
            )
        )

    def raw_list() -> None:
        iterator = client.list_blobs(bucket_name, prefix="many/", delimiter="/")
        files = [blob.name for blob in iterator]
        dirs = sorted(iterator.prefixes)
        assert files or dirs

    listing = listdir_case(
        "gcloud", storage, scale, lambda key: bucket.blob(key).upload_from_string(b""), raw_list
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
            peer={"do": "save_file", "path": str(big), "name": "big/peer.bin"},
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
    for mb in READ_SIZES:
        # The file holds whole MiB: at a scale below 1, a little less than the scaled size.
        read_size = min(int(mb * MiB * scale), big.stat().st_size)
        key = f"read/{read_size}.bin"
        with big.open("rb") as handle:
            bucket.blob(key).upload_from_file(handle, size=read_size)

        def raw_read(mode: str, key: str = key) -> None:
            if mode == "read()":
                bucket.blob(key).download_as_bytes()
            else:
                with bucket.blob(key).open("rb") as stream:
                    consume_stream(stream, mode)

        result += read_cases(
            "gcloud",
            read_size,
            lambda key=key: storage.open(key, "rb"),
            raw_read,
            {"do": "read", "name": key},
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
            peer={
                "do": "collectstatic",
                "options": {"location": "peerstatic", "querystring_auth": False},
            },
        )
    )

    def stop() -> None:
        client.close()
        storage.close()
        plain.close()
        server.process.stop()

    peer = {
        "options": {
            "bucket_name": bucket_name,
            "project_id": options["project_id"],
            "credentials_info": service_account_info(),
        },
        "env": {"STORAGE_EMULATOR_HOST": server.endpoint},
    }
    result.append(listing)  # last: it fills the server (see harness.once)
    return result, stop, peer
