"""Azure Blob Storage cases: the storage against azure-storage-blob doing the same work on the
same Azurite, with the same account and block size, and django-storages' AzureStorage (the peer,
in its own process) beside them.

    python -m benchmarks.run --only azure [--scale 0.25]
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
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
    """Start Azurite; return the Azure cases, a function that stops it, the peer's options."""
    from azure.storage.blob import BlobServiceClient, ContentSettings, generate_blob_sas
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
            "url() signed (SAS)",
            lambda: [signed.url(k) for k in keys],
            raw_signed,
            operations=len(keys),
            target=20,
            kind="speedup",
            peer={"do": "url", "keys": keys, "options": {"expiration_secs": 3600}},
        ),
        Case(
            "azure",
            "url() unsigned",
            lambda: [storage.url(k) for k in keys],
            lambda: [container.get_blob_client(k).url for k in keys],
            operations=len(keys),
            target=30,
            kind="speedup",
            peer={"do": "url", "keys": keys},
        ),
    ]

    small = os.urandom(4096)
    count = max(int(500 * scale), 10)
    result.append(
        Case(
            "azure",
            f"save {count} x 4 KB",
            lambda: [overwriting.save(f"small/s{i}.bin", ContentFile(small)) for i in range(count)],
            lambda: [
                container.upload_blob(f"rawsmall/s{i}.bin", small, overwrite=True)
                for i in range(count)
            ],
            operations=count,
            target=1.15,
            repeat=5,
            peer={
                "do": "save_many",
                "names": "peersmall/s{i}.bin",
                "count": count,
                "size": 4096,
                "options": {"overwrite_files": True},
            },
        )
    )

    heads = META_CALLS
    container.upload_blob("meta/object.bin", small)
    meta = container.get_blob_client("meta/object.bin")
    for method in ("exists", "size", "get_modified_time"):
        function = getattr(storage, method)
        result.append(
            Case(
                "azure",
                f"{method}() x {heads}",
                lambda function=function: [function("meta/object.bin") for _ in range(heads)],
                lambda: [meta.get_blob_properties() for _ in range(heads)],
                operations=heads,
                repeat=META_REPEAT,
                target=1.1,
                peer={"do": "meta", "method": method, "name": "meta/object.bin", "count": heads},
            )
        )

    def raw_list() -> None:
        dirs, files = [], []
        for item in container.walk_blobs(name_starts_with="many/", delimiter="/"):
            (dirs if item.name.endswith("/") else files).append(item.name)

    listing = listdir_case(
        "azure", storage, scale, lambda key: container.upload_blob(key, b""), raw_list
    )

    size = int(256 * MiB * scale)
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

    result.append(
        Case(
            "azure",
            f"save {size // MiB} MB",
            storage_save,
            raw_save,
            bytes=size,
            target=1.05,
            repeat=5,
            measure_memory=True,
            peer={
                "do": "save_file",
                "path": str(big),
                "name": "big/peer.bin",
                "options": {"overwrite_files": True},
            },
        )
    )
    for mb in READ_SIZES:
        read_size = int(mb * MiB * scale)
        key = f"read/{read_size}.bin"
        with big.open("rb") as handle:
            container.upload_blob(key, handle, length=read_size, overwrite=True)

        def raw_read(mode: str, key: str = key) -> None:
            consume_stream(container.download_blob(key), mode)

        result += read_cases(
            "azure",
            read_size,
            lambda key=key: storage.open(key, "rb"),
            raw_read,
            {"do": "read", "name": key},
        )

    static_dir, files = static_tree(work, scale)

    def raw_put(key: str, body: bytes, content_type: str | None) -> None:
        settings = ContentSettings(content_type=content_type)
        container.upload_blob(key, body, overwrite=True, content_settings=settings)

    result.append(
        collectstatic_case(
            "azure",
            "storages.backends.azure_storage.AzureStorage",
            {**options, "location": "static", "file_overwrite": True},
            static_dir,
            files,
            raw_put,
            peer={
                "do": "collectstatic",
                "options": {"location": "peerstatic", "overwrite_files": True},
            },
        )
    )

    def stop() -> None:
        for each in (storage, signed, overwriting):
            each.close()
        service.close()
        server.process.stop()

    result.append(listing)  # last: it fills the server (see harness.once)
    return result, stop, {"options": options}
