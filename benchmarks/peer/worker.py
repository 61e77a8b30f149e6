"""The peer's child process: runs benchmark specs through django-storages, one at a time.

Run by :class:`benchmarks.peer.PeerProcess` as ``.venv-peer/bin/python -m
benchmarks.peer.worker`` from the repository root. It reads one JSON message a line on stdin
and answers each with one JSON line on stdout (anything else the libraries print goes to
stderr):

* ``{"op": "open", "backend": ..., "options": {...}, "settings": {...}}``: configure Django
  (plus ``settings``) and remember the backend's base options; answers the peer's version.
* ``{"op": "run", "spec": {...}, "memory": bool}``: run the spec once; answers ``seconds``
  and ``rss`` (peak growth of this process's resident memory, when ``memory``).
* ``{"op": "quit"}``.

A spec's ``do`` says what to run; ``options`` (merged over the base options) and ``class`` (a
dotted storage class) choose the storage:

* ``url``: ``url(k)`` for each of ``keys``.
* ``save_many``: ``save()`` ``count`` bodies of ``size`` random bytes, named by the template
  ``names`` (``{i}`` the file, ``{run}`` a counter of runs).
* ``meta``: ``count`` calls of ``method`` (``exists``, ``size``, ...) on ``name``.
* ``save_file``: ``save(name, File(open(path)))``.
* ``read``: open ``name`` and read it to the end ``how`` (one of the harness's READ_MODES).
* ``listdir``: ``listdir(path)``.
* ``collectstatic``: Django's ``collectstatic`` from ``static_dir`` into the storage.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from benchmarks.harness import PeakRSS, consume
from benchmarks.peer.build import CLASSES, build, options_for

Runner = Callable[[], Any]


class Worker:
    """The state of the child: Django configured once, storages and prepared specs cached."""

    def __init__(self) -> None:
        self.backend = ""
        self.options: dict[str, Any] = {}
        self._storages: dict[str, Any] = {}
        self._runners: dict[str, Runner] = {}
        self._runs = itertools.count()

    def open(self, backend: str, options: dict[str, Any], settings: dict[str, Any]) -> str:
        """Configure Django and remember the backend; return django-storages' version."""
        import django
        from django.conf import settings as django_settings

        django_settings.configure(
            DEBUG=False,
            SECRET_KEY="benchmarks-only",
            USE_TZ=True,
            TIME_ZONE="UTC",
            INSTALLED_APPS=["django.contrib.staticfiles", "storages"],
            STATIC_URL="/static/",
            **settings,
        )
        django.setup()
        self.backend, self.options = backend, options
        from importlib.metadata import version

        return version("django-storages")

    def storage(self, spec: dict[str, Any]) -> Any:
        """Return the storage a spec runs on (one per distinct options and class)."""
        options = {**self.options, **spec.get("options", {})}
        key = json.dumps([spec.get("class"), options], sort_keys=True, default=str)
        if key not in self._storages:
            self._storages[key] = build(self.backend, options, spec.get("class"))
        return self._storages[key]

    def runner(self, spec: dict[str, Any]) -> Runner:
        """Return the prepared function that runs ``spec`` once."""
        key = json.dumps(spec, sort_keys=True)
        if key not in self._runners:
            self._runners[key] = self._prepare(spec)
        return self._runners[key]

    def _prepare(self, spec: dict[str, Any]) -> Runner:
        from django.core.files import File
        from django.core.files.base import ContentFile

        do = spec["do"]
        if do == "collectstatic":
            return self._collectstatic(spec)
        storage = self.storage(spec)
        if do == "url":
            keys = spec["keys"]
            return lambda: [storage.url(k) for k in keys]
        if do == "save_many":
            body, names, count = os.urandom(spec["size"]), spec["names"], spec["count"]

            def save_many() -> None:
                run = next(self._runs)
                for i in range(count):
                    storage.save(names.format(run=run, i=i), ContentFile(body))

            return save_many
        if do == "meta":
            method, name, count = getattr(storage, spec["method"]), spec["name"], spec["count"]
            return lambda: [method(name) for _ in range(count)]
        if do == "save_file":

            def save_file() -> None:
                with open(spec["path"], "rb") as handle:
                    storage.save(spec["name"], File(handle))

            return save_file
        if do == "read":

            def read() -> None:
                with storage.open(spec["name"], "rb") as handle:
                    consume(handle, spec["how"])

            return read
        if do == "listdir":
            return lambda: storage.listdir(spec["path"])
        raise ValueError(f"unknown spec: {do!r}")

    def _collectstatic(self, spec: dict[str, Any]) -> Runner:
        from django.core.management import call_command
        from django.test import override_settings

        options = options_for({**self.options, **spec.get("options", {})})
        storages = {
            "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
            "staticfiles": {
                "BACKEND": spec.get("class") or CLASSES[self.backend],
                "OPTIONS": options,
            },
        }

        def collect() -> None:
            with override_settings(STORAGES=storages, STATICFILES_DIRS=[spec["static_dir"]]):
                call_command("collectstatic", interactive=False, verbosity=0, clear=False)

        return collect

    def run(self, spec: dict[str, Any], memory: bool) -> dict[str, Any]:
        """Run ``spec`` once and return what the parent records."""
        function = self.runner(spec)
        if memory:
            with PeakRSS() as peak:
                start = time.perf_counter()
                function()
                seconds = time.perf_counter() - start
            return {"seconds": seconds, "rss": peak.growth}
        start = time.perf_counter()
        function()
        return {"seconds": time.perf_counter() - start, "rss": 0}


def main() -> int:
    """Answer the parent's messages until it says quit (or goes away)."""
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # library output must not reach the parent
    worker = Worker()
    for line in sys.stdin:
        message = json.loads(line)
        op = message["op"]
        try:
            if op == "open":
                answer: dict[str, Any] = {
                    "version": worker.open(
                        message["backend"], message["options"], message["settings"]
                    )
                }
            elif op == "run":
                answer = worker.run(message["spec"], message["memory"])
            else:
                answer = {}
        except Exception as exc:  # reported to the parent, which records the case as failed
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        protocol.write(json.dumps(answer) + "\n")
        protocol.flush()
        if op == "quit":
            break
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
