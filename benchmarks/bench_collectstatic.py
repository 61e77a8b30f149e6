"""collectstatic: Django's stock command against ours, same storage class, same server, same run.

``python -m benchmarks.run --only collectstatic`` (``STOWAGE_BENCH_SERVICES=s3,gcloud,azure``
picks the services; S3 alone by default). In the table, "ours" is our command and "raw SDK"
is Django's stock ``collectstatic`` with the same storage (a request or two per file); the
ratio is how many times faster ours is. For each service, with the static storage and a
manifest storage:

* a fresh upload into an empty destination;
* a re-run with nothing changed;
* a re-run with 10 files changed.

The source is 1,000 files of mixed sizes (``--scale`` shrinks the count): stylesheets that
reference images, scripts, images and a few larger files.

A local server answers in a millisecond and its own CPU caps how many requests per second it
takes, which hides what parallel uploads save against a real service.
``STOWAGE_BENCH_LATENCY_MS=20`` adds that many milliseconds before every S3 request of both
commands (a client-side model of a round trip to the service), for a second set of figures.
"""

from __future__ import annotations

import io
import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.harness import Case

KiB = 1024
#: Files of the source tree at scale 1, and how many change in the "10 changed" case.
FILES = 1000
CHANGED = 10
#: The services measured unless STOWAGE_BENCH_SERVICES says otherwise.
DEFAULT_SERVICES = "s3"
MS = 1000.0
#: A stylesheet of the tree (one in four files) names an image, so a manifest rewrites it.
_CSS = '.c{i} {{ background: url("../img/i{j}.png"); color: #{i:06x}; }}\n'


def static_tree(root: Path, files: int) -> list[Path]:
    """Write ``files`` source files of mixed sizes (about 1 KiB to 256 KiB) under ``root``."""
    rng = random.Random(18)
    paths = []
    for i in range(files):
        kind = i % 4
        app = root / f"app{i // 50}"  # a stylesheet and the image after it share an app
        if kind == 0:
            path = app / "css" / f"s{i}.css"
            data = (_CSS.format(i=i, j=i + 1) * rng.randint(1, 40)).encode()
        elif kind == 1:
            path = app / "img" / f"i{i}.png"
            data = rng.randbytes(rng.choice((2, 8, 32, 128)) * KiB)
        elif kind == 2:
            path = app / "js" / f"m{i}.js"
            data = (f"export const v{i} = {i};\n" * rng.randint(10, 400)).encode()
        else:
            path = app / "data" / f"d{i}.json"
            data = (b'{"n": %d}\n' % i) * rng.randint(100, 25 * KiB // 10)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        paths.append(path)
    return paths


def _touch(paths: list[Path], counter: list[int]) -> None:
    """Change ``CHANGED`` files (new bytes, a newer modification time)."""
    counter[0] += 1
    for path in paths[:: max(len(paths) // CHANGED, 1)][:CHANGED]:
        path.write_bytes(path.read_bytes() + f"/* change {counter[0]} */\n".encode())


def _services() -> list[str]:
    return [s for s in os.environ.get("STOWAGE_BENCH_SERVICES", DEFAULT_SERVICES).split(",") if s]


def _start(service: str) -> tuple[dict[str, Any], str, Callable[[], None]]:
    """Start ``service``'s server: return storage options, the backend module, a stop()."""
    if service == "s3":
        from tests.servers.s3 import MotoServer

        moto = MotoServer()
        moto.process.start()
        moto.client().create_bucket(Bucket="bench-static")
        return moto.options("bench-static"), "storages.backends.s3.S3", moto.process.stop
    if service == "gcloud":
        from tests.servers.gcloud import FakeGcsServer

        gcs = FakeGcsServer()
        gcs.process.start()
        gcs.client().create_bucket("bench-static")
        options = gcs.options("bench-static", file_overwrite=True)
        return options, "tests.commands.manifests.GoogleCloud", gcs.process.stop
    from tests.servers.azure import Azurite

    azurite = Azurite()
    azurite.process.start()
    azurite.client().create_container("bench-static")
    return azurite.options("bench-static"), "tests.commands.manifests.Azure", azurite.process.stop


def _classes(service: str, prefix: str) -> dict[str, str]:
    if service == "s3":
        return {"static": f"{prefix}StaticStorage", "manifest": f"{prefix}ManifestStaticStorage"}
    plain = {"gcloud": "storages.backends.gcloud.GoogleCloudStorage"}.get(
        service, "storages.backends.azure_storage.AzureStorage"
    )
    return {"static": plain, "manifest": f"{prefix}StorageManifest"}


def cases(work: Path, scale: float = 1.0) -> tuple[list[Case], Callable[[], None]]:
    """Start the servers and return the collectstatic cases plus a function that stops them."""
    from django.contrib.staticfiles.management.commands.collectstatic import Command as Stock
    from django.core.files.storage import storages
    from django.core.management import call_command
    from django.test import override_settings

    from storages.management.commands.collectstatic import Command as Ours

    source = work / "collectstatic-src"
    paths = static_tree(source, max(int(FILES * scale), CHANGED * 2))
    sources = override_settings(STATICFILES_DIRS=[str(source)])
    sources.enable()
    stops: list[Callable[[], None]] = [sources.disable]
    result: list[Case] = []
    counter = [0]
    for service in _services():
        options, prefix, stop = _start(service)
        stops.append(stop)
        for flavour, backend in _classes(service, prefix).items():
            entry = {"BACKEND": backend, "OPTIONS": {**options, "location": flavour}}
            # One storage for both commands, its client built once (not part of the timings).
            storage = storages.create_storage(entry)
            latency = float(os.environ.get("STOWAGE_BENCH_LATENCY_MS", "0")) / MS
            if latency and service == "s3":
                storage.client.meta.events.register(
                    "before-send.s3", lambda latency=latency, **_: time.sleep(latency)
                )

            def run(command_class: type, storage: Any = storage) -> None:
                command = command_class()
                command.storage = storage
                call_command(command, interactive=False, verbosity=0, stdout=io.StringIO())

            def empty(storage: Any = storage) -> None:
                with storage.sync_session() as session:
                    session.clear()

            def filled(run: Callable[[type], None] = run) -> None:
                run(Ours)
                time.sleep(1.1)  # Django compares whole seconds: later changes must look newer

            def changed(filled: Callable[[], None] = filled) -> None:
                filled()
                _touch(paths, counter)

            files = len(paths)
            for label, setup, target in (
                ("fresh upload", empty, 5),
                ("re-run, nothing changed", filled, 20),
                (f"re-run, {CHANGED} changed", changed, 10),
            ):
                result.append(
                    Case(
                        "collectstatic",
                        f"{service} {flavour}: {label} ({files} files)",
                        lambda run=run: run(Ours),
                        lambda run=run: run(Stock),
                        operations=files,
                        target=target,
                        kind="speedup",
                        repeat=3,
                        setup=setup,
                        peer="the raw column is Django's stock collectstatic on our storage",
                    )
                )

    def stop_all() -> None:
        for stop in reversed(stops):
            stop()

    return result, stop_all
