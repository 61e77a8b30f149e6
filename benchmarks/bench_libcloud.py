"""Libcloud cases: the storage on libcloud's S3 driver against the raw driver doing the same work,
on the same moto server. The raw side's streamed reads are ``download_object_as_stream``: its
chunks joined (``read()``), or iterated in chunks of 1 MiB (``chunks``) and of 64 KiB
(``copyfileobj``'s size).

django-storages' LibCloudStorage hands the driver only the user, key, region and project of its
provider: it cannot reach a server at another host or port, such as this local S3 server, so
the peer is not run here (every row says so)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from benchmarks.harness import META_CALLS, META_REPEAT, Case, read_cases

MiB = 1024 * 1024
#: Size of the small files saved one after the other.
SMALL = 4096
#: The sizes of the files read, at scale 1 (MiB).
READ_SIZES = (256, 64)
#: Why the peer has no figures here.
NO_PEER = "cannot reach a local S3 server: no host or port option"
#: What ``shutil.copyfileobj`` asks for at a time.
COPY_BLOCK = 64 * 1024


def cases(work: Path, scale: float = 1.0) -> tuple[list[Case], Callable[[], None]]:
    """Start moto and return the Libcloud cases plus a function that stops the server."""
    from django.core.files import File
    from django.core.files.base import ContentFile
    from libcloud.storage.providers import get_driver
    from tests.servers.libcloud_s3 import s3_providers
    from tests.servers.s3 import KEY_ID, SECRET, MotoServer

    from storages.backends.apache_libcloud import LibCloudStorage

    server = MotoServer()
    server.process.start()
    bucket = "bench-libcloud"
    server.client().create_bucket(Bucket=bucket)
    providers = s3_providers(server, bucket)
    storage = LibCloudStorage("moto", providers=providers)
    replacing = LibCloudStorage("moto", providers=providers, file_overwrite=True)
    driver = get_driver("s3")(
        KEY_ID, SECRET, host="127.0.0.1", port=server.port, secure=False, region="us-east-1"
    )
    container = driver.get_container(bucket)
    storage.exists("warm-up")  # build the drivers and look the container up before measuring
    replacing.exists("warm-up")

    small = os.urandom(SMALL)
    count = max(int(200 * scale), 10)

    def raw_small() -> None:
        for i in range(count):
            driver.upload_object_via_stream(
                iter((small,)),
                container,
                f"rawsmall/s{i}.bin",
                extra={"content_type": "application/octet-stream"},
            )

    result = [
        Case(
            "libcloud",
            f"save {count} x 4 KB (overwrite)",
            lambda: [replacing.save(f"small/o{i}.bin", ContentFile(small)) for i in range(count)],
            raw_small,
            operations=count,
            target=1.15,
        ),
        Case(
            "libcloud",
            f"save {count} x 4 KB (free names)",
            # A new area each repetition, so every name is free and each save is one upload.
            lambda: [
                storage.save(f"small/{os.urandom(4).hex()}/s{i}.bin", ContentFile(small))
                for i in range(count)
            ],
            raw_small,
            operations=count,
        ),
    ]

    heads = META_CALLS
    driver.upload_object_via_stream(iter((small,)), container, "meta/object.bin")
    result.append(
        Case(
            "libcloud",
            f"exists() x {heads}",
            lambda: [storage.exists("meta/object.bin") for _ in range(heads)],
            lambda: [driver.get_object(bucket, "meta/object.bin") for _ in range(heads)],
            operations=heads,
            repeat=META_REPEAT,
            target=1.1,
        )
    )

    size = int(256 * MiB * scale)
    big = work / "libcloud-big.bin"
    with big.open("wb") as handle:
        for _ in range(size // MiB):
            handle.write(os.urandom(MiB))

    def storage_save() -> None:
        with big.open("rb") as handle:
            replacing.save("big/storage.bin", File(handle))

    def raw_save() -> None:
        with big.open("rb") as handle:
            driver.upload_object_via_stream(handle, container, "big/raw.bin")

    result += [
        Case(
            "libcloud",
            f"save {size // MiB} MB",
            storage_save,
            raw_save,
            bytes=size,
            target=1.1,
            measure_memory=True,
        ),
    ]
    for mb in READ_SIZES:
        read_size = int(mb * MiB * scale)
        key = f"read/{read_size}.bin"
        with big.open("rb") as handle:
            driver.upload_object_via_stream(iter((handle.read(read_size),)), container, key)

        def raw_read(mode: str, key: str = key) -> None:
            obj = driver.get_object(bucket, key)
            if mode == "read()":
                b"".join(driver.download_object_as_stream(obj, chunk_size=MiB))
                return
            block = MiB if mode.startswith("chunks") else COPY_BLOCK
            for _chunk in driver.download_object_as_stream(obj, chunk_size=block):
                pass

        result += read_cases(
            "libcloud", read_size, lambda key=key: storage.open(key, "rb"), raw_read, NO_PEER
        )
    for case in result:
        case.peer = NO_PEER

    def stop() -> None:
        server.process.stop()

    return result, stop
