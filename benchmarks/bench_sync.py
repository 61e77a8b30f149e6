"""``storages sync`` between two S3 buckets on moto: copies inside the service against streamed
copies, and against a raw boto3 loop doing what ``aws s3 sync`` does.

``python -m benchmarks.run --only sync [--scale 0.1]``. The source bucket holds 1,000 files of
mixed sizes below ``small/`` (the collectstatic tree: about 1 KiB to 256 KiB) and 20 files of
4 MiB below ``large/`` (``--scale`` shrinks the counts); every repetition starts from an empty
destination bucket. The cases:

* "inside the service vs streamed": the ratio is how many times faster the sync is when the
  storages share the account (one ``CopyObject`` per file) than when they do not (a GET and a
  PUT per file, the bytes through this process); the destination of the streamed run differs
  only by its access key, which moto does not check; once for the small files, once for the
  large ones;
* "ours vs a raw boto3 loop": our sync (inside the service) against a minimal copy loop
  (list both buckets, ``CopyObject`` each missing key, the same number of threads), the
  ratio is our time over the loop's.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks.bench_collectstatic import static_tree
from benchmarks.harness import Case

MiB = 1024 * 1024
#: Files of the source at scale 1, and the fewest at any scale; the same for the large files.
FILES = 1000
MIN_FILES = 20
LARGE_FILES = 20
MIN_LARGE_FILES = 4
LARGE_SIZE = 4 * MiB
#: Copies in flight, for our sync (``--jobs``) and the raw loop alike.
JOBS = 8
#: Keys one DeleteObjects request takes.
DELETE_BATCH = 1000
SOURCE, DESTINATION = "bench-sync-src", "bench-sync-dst"
PEER = "django-storages has no copy or sync command"


def _keys(client: Any, bucket: str, prefix: str = "") -> dict[str, str]:
    """Return every key of ``bucket`` below ``prefix`` with its ETag, across pages."""
    found: dict[str, str] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        found.update({item["Key"]: item["ETag"] for item in page.get("Contents", ())})
    return found


def _empty(client: Any, bucket: str) -> None:
    keys = list(_keys(client, bucket))
    for start in range(0, len(keys), DELETE_BATCH):
        batch = [{"Key": key} for key in keys[start : start + DELETE_BATCH]]
        client.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})


def _raw_sync(client: Any, prefix: str) -> None:
    """Copy what the destination lacks or holds differently, as ``aws s3 sync`` would."""
    source, stored = _keys(client, SOURCE, prefix), _keys(client, DESTINATION, prefix)
    missing = [key for key, etag in source.items() if stored.get(key) != etag]

    def copy(key: str) -> None:
        client.copy_object(Bucket=DESTINATION, Key=key, CopySource={"Bucket": SOURCE, "Key": key})

    with ThreadPoolExecutor(JOBS) as pool:
        list(pool.map(copy, missing))


def _fill(client: Any, root: Path, files: int, large: int) -> tuple[int, int]:
    """Upload the collectstatic tree of ``files`` files below ``small/`` and ``large`` files
    of :data:`LARGE_SIZE` below ``large/``; return the bytes of each."""
    paths = static_tree(root, files)

    def put(key: str, data: bytes) -> int:
        client.put_object(Bucket=SOURCE, Key=key, Body=data)
        return len(data)

    with ThreadPoolExecutor(JOBS) as pool:
        small = pool.map(
            lambda p: put(f"small/{p.relative_to(root).as_posix()}", p.read_bytes()), paths
        )
        big = pool.map(
            lambda n: put(f"large/f{n}.bin", bytes([n % 256]) * LARGE_SIZE), range(large)
        )
        return sum(small), sum(big)


def cases(work: Path, scale: float = 1.0) -> tuple[list[Case], Callable[[], None], str]:
    """Start moto, fill the source bucket, and return the sync cases and a stop()."""
    from tests.servers.s3 import MotoServer

    from storages._transfer import transfer
    from storages.backends.s3 import S3Storage

    moto = MotoServer()
    moto.process.start()
    client = moto.client()
    for bucket in (SOURCE, DESTINATION):
        client.create_bucket(Bucket=bucket)
    files = max(int(FILES * scale), MIN_FILES)
    large = max(int(LARGE_FILES * scale), MIN_LARGE_FILES)
    small_bytes, large_bytes = _fill(client, work / "sync-src", files, large)
    source = S3Storage(**moto.options(SOURCE))
    inside = S3Storage(**moto.options(DESTINATION))
    streamed = S3Storage(**moto.options(DESTINATION, access_key="another-account"))

    def sync(destination: S3Storage, prefix: str, count: int) -> Callable[[], None]:
        def run() -> None:
            stats = transfer(source, destination, prefix, jobs=JOBS)
            assert stats.copied == count, stats

        return run

    def empty() -> None:
        _empty(client, DESTINATION)

    def case(name: str, ours: Callable[[], None], raw: Callable[[], None], **extra: Any) -> Case:
        return Case("sync", name, ours, raw, repeat=3, setup=empty, peer=PEER, **extra)

    result = [
        case(
            f"s3 to s3, {label}: inside the service vs streamed",
            sync(inside, prefix, count),
            sync(streamed, prefix, count),
            operations=count,
            bytes=size,
            target=5,
            kind="speedup",
        )
        for label, prefix, count, size in (
            (f"{files} files", "small", files, small_bytes),
            (f"{large} files of 4 MiB", "large", large, large_bytes),
        )
    ]
    result.append(
        case(
            f"s3 to s3, {files} files: ours vs a raw boto3 copy loop",
            sync(inside, "small", files),
            lambda: _raw_sync(client, "small/"),
            operations=files,
            bytes=small_bytes,
        )
    )

    def stop() -> None:
        for storage in (source, inside, streamed):
            storage.close()
        moto.process.stop()

    return result, stop, PEER
