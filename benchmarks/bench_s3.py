"""S3 cases: the storage against boto3 doing the same work on the same moto server, and
django-storages' S3Storage (the peer, in its own process) beside them."""

from __future__ import annotations

import os
from collections.abc import Callable
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
    """Start moto; return the S3 cases, a function that stops the server, the peer's options."""
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config
    from django.core.files import File
    from django.core.files.base import ContentFile
    from tests.servers.s3 import MotoServer

    from storages.backends.s3 import S3Storage

    server = MotoServer()
    server.process.start()
    client = server.client()
    bucket = "bench-bucket"
    client.create_bucket(Bucket=bucket)
    storage = S3Storage(**server.options(bucket))
    plain = S3Storage(**server.options(bucket, querystring_auth=False))
    unsigned_client = boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        config=Config(signature_version=UNSIGNED, s3={"addressing_style": "path"}),
    )
    storage.exists("warm-up")  # build the client (and load botocore's models) before measuring
    plain.url("warm-up")

    keys = [f"media/photos/img_{i:05d} ü+.jpg" for i in range(2000)]
    result: list[Case] = [
        Case(
            "s3",
            "url() signed",
            lambda: [storage.url(k) for k in keys],
            lambda: [
                client.generate_presigned_url(
                    "get_object", Params={"Bucket": bucket, "Key": k}, ExpiresIn=3600
                )
                for k in keys
            ],
            operations=len(keys),
            target=20,
            kind="speedup",
            repeat=9,
            peer={"do": "url", "keys": keys},
        ),
        Case(
            "s3",
            "url() unsigned",
            lambda: [plain.url(k) for k in keys],
            lambda: [
                unsigned_client.generate_presigned_url(
                    "get_object", Params={"Bucket": bucket, "Key": k}
                )
                for k in keys
            ],
            operations=len(keys),
            target=30,
            kind="speedup",
            repeat=9,
            peer={"do": "url", "keys": keys, "options": {"querystring_auth": False}},
        ),
    ]

    small = os.urandom(4096)
    count = max(int(500 * scale), 10)
    result.append(
        Case(
            "s3",
            f"save {count} x 4 KB",
            lambda: [storage.save(f"small/s{i}.bin", ContentFile(small)) for i in range(count)],
            lambda: [
                client.put_object(
                    Bucket=bucket,
                    Key=f"rawsmall/s{i}.bin",
                    Body=small,
                    ContentType="application/octet-stream",
                )
                for i in range(count)
            ],
            operations=count,
            target=1.15,
            repeat=5,
            peer={"do": "save_many", "names": "peersmall/s{i}.bin", "count": count, "size": 4096},
        )
    )

    client.put_object(Bucket=bucket, Key="meta/object.bin", Body=small)
    heads = META_CALLS
    for method in ("exists", "size", "get_modified_time"):
        function = getattr(storage, method)
        result.append(
            Case(
                "s3",
                f"{method}() x {heads}",
                lambda function=function: [function("meta/object.bin") for _ in range(heads)],
                lambda: [
                    client.head_object(Bucket=bucket, Key="meta/object.bin") for _ in range(heads)
                ],
                operations=heads,
                repeat=META_REPEAT,
                target=1.1,
                peer={"do": "meta", "method": method, "name": "meta/object.bin", "count": heads},
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
            client.upload_fileobj(handle, bucket, "big/raw.bin")

    result.append(
        Case(
            "s3",
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
    for mb in READ_SIZES:
        read_size = int(mb * MiB * scale)
        key = f"read/{read_size}.bin"
        with big.open("rb") as handle:
            client.put_object(Bucket=bucket, Key=key, Body=handle.read(read_size))

        def raw_read(mode: str, key: str = key) -> None:
            consume_stream(client.get_object(Bucket=bucket, Key=key)["Body"], mode)

        result += read_cases(
            "s3",
            read_size,
            lambda key=key: storage.open(key, "rb"),
            raw_read,
            {"do": "read", "name": key},
        )

    paginator = client.get_paginator("list_objects_v2")

    def raw_list() -> None:
        dirs, files = [], []
        for page in paginator.paginate(Bucket=bucket, Prefix="many/", Delimiter="/"):
            dirs += [p["Prefix"] for p in page.get("CommonPrefixes", ())]
            files += [o["Key"] for o in page.get("Contents", ())]

    listing = listdir_case(
        "s3",
        storage,
        scale,
        lambda key: client.put_object(Bucket=bucket, Key=key, Body=b""),
        raw_list,
    )

    static_dir, files = static_tree(work, scale)
    result.append(
        collectstatic_case(
            "s3",
            "storages.backends.s3.S3StaticStorage",
            server.options(bucket, location="static"),
            static_dir,
            files,
            lambda key, body, content_type: client.put_object(
                Bucket=bucket, Key=key, Body=body, ContentType=content_type
            ),
            peer={
                "do": "collectstatic",
                "class": "storages.backends.s3.S3StaticStorage",
                "options": {"location": "peerstatic"},
            },
        )
    )

    def stop() -> None:
        server.process.stop()

    result.append(listing)  # last: it fills the server (see harness.once)
    return result, stop, {"options": server.options(bucket)}
