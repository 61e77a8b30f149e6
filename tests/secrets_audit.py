"""The suite-wide secrets audit: every credential a storage was configured with during the run,
looked for in everything the run let out.

What is collected, for the whole session:

* every log record (formatted, with its traceback) of ``storages`` at DEBUG and of the SDKs'
  loggers at INFO, and every record that reaches the root logger;
* every warning pytest records;
* every exception a test caught with ``pytest.raises`` (its ``str``, ``repr`` and the ones
  chained to it) and the report of every failed test;
* ``repr``, ``str``, ``deconstruct()`` and a pickle of every storage instance the tests created
  (each once, when the test that made it ends, and all live ones at the end of the run).

The secrets are the values of every setting declared secret (plus ``_extra_secrets()``) of those
same storages, as they were configured. Each is looked for as given and percent-encoded. At the
end the run fails if any was found, and the figures go to
``.servers/secrets-audit-django<version>.json``
(docs/reliability.md shows them).
"""

from __future__ import annotations

import json
import logging
import pickle
import re
import threading
import weakref
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import quote

import django
import pytest
from _pytest._code.code import ExceptionInfo

from tests.servers import STATE_DIR

__all__ = ["AUDIT_PATH", "MIN_SECRET_LENGTH", "Audit"]

#: One file per Django version: ``make test`` runs the suite on three, one after the other.
AUDIT_PATH = STATE_DIR / f"secrets-audit-django{'.'.join(map(str, django.VERSION[:2]))}.json"
#: Shorter values ("testing", "x") match ordinary words: they are counted, not looked for.
MIN_SECRET_LENGTH = 8
#: Loggers of the SDKs, raised to INFO (their DEBUG output is every request: too slow to keep).
SDK_LOGGERS = ("azure", "botocore", "boto3", "google", "paramiko", "urllib3", "dropbox", "libcloud")


#: Entries of a secret mapping that hold the secret itself.
SECRET_KEYS = re.compile(r"key|secret|pass|token|credential|sig|auth", re.IGNORECASE)


def _strings(value: Any) -> Iterator[str]:
    """Yield the text values inside ``value`` (settings hold strings, bytes, dicts or lists)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, (bytes, bytearray)):
        yield bytes(value).decode("latin-1")
    elif isinstance(value, dict):
        # A secret mapping (Libcloud's providers, SFTP's params) also holds plain values: hosts,
        # ports, driver names. Only the entries named like credentials are secrets.
        for key, item in value.items():
            if SECRET_KEYS.search(str(key)):
                yield from _strings(item)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            yield from _strings(item)


def _backend_of(storage: Any) -> str:
    module = type(storage).__module__
    return module.rsplit(".", 1)[-1] if module.startswith("storages.") else module


class Audit:
    """Texts that left the run, secrets that went in, and where the two meet."""

    def __init__(self) -> None:
        self.texts: dict[str, list[str]] = defaultdict(list)
        self.secrets: dict[str, set[str]] = defaultdict(set)  # secret -> backends
        self.short_secrets = 0
        self.unpicklable = 0
        self.storages: Counter[str] = Counter()
        self._seen: weakref.WeakSet[Any] = weakref.WeakSet()
        self._lock = threading.Lock()

    def add_text(self, kind: str, text: str) -> None:
        """Keep ``text`` (of kind ``kind``: log, warning, exception, failure, storage)."""
        with self._lock:
            self.texts[kind].append(text)

    def add_exception(self, exc: BaseException) -> None:
        """Keep the message of ``exc`` and of the exceptions a traceback of it shows."""
        seen: set[int] = set()
        current: BaseException | None = exc
        while current is not None and id(current) not in seen:
            seen.add(id(current))
            self.add_text("exception", f"{current!s}\n{current!r}")
            # What a traceback prints: the cause, else the context unless it was suppressed.
            if current.__cause__ is not None or current.__suppress_context__:
                current = current.__cause__
            else:
                current = current.__context__

    def add_storage(self, storage: Any) -> None:
        """Record the secrets of ``storage`` and what it shows of itself."""
        backend = _backend_of(storage)
        with self._lock:
            first = storage not in self._seen
            self._seen.add(storage)
        if first:
            self.storages[backend] += 1
        for secret in storage._secret_values():
            for text in _strings(secret):
                if len(text) < MIN_SECRET_LENGTH:
                    self.short_secrets += first
                else:
                    self.secrets[text].add(backend)
        self.add_text("storage", f"{storage!r}\n{storage!s}\n{storage.deconstruct()!r}")
        try:
            dumped = pickle.dumps(storage)
        except Exception:  # a test's own storage may hold an unpicklable thing
            self.unpicklable += first
        else:
            self.add_text("storage", dumped.decode("latin-1"))

    def add_storages(self, storages: Iterable[Any], only_new: bool) -> None:
        """Record every storage of ``storages`` (only those not seen before if ``only_new``)."""
        for storage in list(storages):
            if not (only_new and storage in self._seen):
                self.add_storage(storage)

    def hits(self) -> list[tuple[str, str, str]]:
        """Return (backend, kind of text, the text with the secret masked) for every leak."""
        found = []
        for secret, backends in self.secrets.items():
            forms = {secret, quote(secret, safe="")}
            for kind, texts in self.texts.items():
                for text in texts:
                    for form in forms:
                        if form in text:
                            masked = text.replace(form, "<secret>")
                            found.extend((b, kind, masked[:2000]) for b in sorted(backends))
        return found

    def figures(self, hits: list[tuple[str, str, str]] | None = None) -> dict[str, Any]:
        """Return the counts of this run, per backend and in all (``hits`` if already found)."""
        hits = self.hits() if hits is None else hits
        per_backend: dict[str, dict[str, int]] = {}
        for backend, count in self.storages.items():
            per_backend[backend] = {
                "storages": count,
                "secrets": sum(backend in b for b in self.secrets.values()),
                "hits": sum(h[0] == backend for h in hits),
            }
        return {
            "texts": {kind: len(texts) for kind, texts in self.texts.items()},
            "secrets_scanned": len(self.secrets),
            "secrets_too_short": self.short_secrets,
            "unpicklable_storages": self.unpicklable,
            "backends": per_backend,
            "hits": len(hits),
        }


class _Collector(logging.Handler):
    def __init__(self, audit: Audit) -> None:
        super().__init__(logging.DEBUG)
        self.audit = audit
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.audit.add_text("log", self.format(record))
        except Exception:  # a record that cannot be formatted is kept raw
            self.audit.add_text("log", f"{record.msg!r} {record.args!r}")


AUDIT = Audit()
_state: dict[str, Any] = {}


def _live_storages() -> list[Any]:
    from storages import _configurable

    with _configurable._live_lock:
        return list(_configurable._live)


def pytest_sessionstart(session: pytest.Session) -> None:
    """Start collecting: log handlers, and a hook on what ``pytest.raises`` catches."""
    handler = _Collector(AUDIT)
    watched = [logging.getLogger(), logging.getLogger("storages")]
    watched += [logging.getLogger(name) for name in SDK_LOGGERS]
    for logger in watched[1:]:
        logger.setLevel(logging.DEBUG if logger.name == "storages" else logging.INFO)
        logger.addHandler(handler)
        # Records still go on to the root logger (and pytest's capture): counted once, here.
    logging.getLogger().addHandler(_RootOnly(handler))
    original = ExceptionInfo.fill_unfilled

    def fill_unfilled(self: ExceptionInfo[Any], exc_info: Any) -> None:
        original(self, exc_info)
        AUDIT.add_exception(exc_info[1])

    ExceptionInfo.fill_unfilled = fill_unfilled  # type: ignore[method-assign]


class _RootOnly(logging.Handler):
    """Passes on the root's records that the watched loggers did not already collect."""

    def __init__(self, inner: logging.Handler) -> None:
        super().__init__(logging.DEBUG)
        self.inner = inner

    def emit(self, record: logging.LogRecord) -> None:
        name = record.name
        if not any(name == w or name.startswith(w + ".") for w in ("storages", *SDK_LOGGERS)):
            self.inner.emit(record)


def pytest_warning_recorded(warning_message: Any, **_: Any) -> None:
    """Keep every warning's text."""
    AUDIT.add_text("warning", str(warning_message.message))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    """After each test, record the storages it created (before they are garbage)."""
    yield
    AUDIT.add_storages(_live_storages(), only_new=True)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Keep the report of every failure (tracebacks show locals and messages)."""
    if report.failed:
        AUDIT.add_text("failure", report.longreprtext)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Scan, write the figures, and fail the run on any hit."""
    AUDIT.add_storages(_live_storages(), only_new=False)
    hits = AUDIT.hits()
    figures = AUDIT.figures(hits)
    AUDIT_PATH.parent.mkdir(parents=True, exist_ok=True)
    figures["leaks"] = [{"backend": b, "kind": k, "text": t} for b, k, t in hits[:50]]
    AUDIT_PATH.write_text(json.dumps(figures, indent=2, sort_keys=True))
    _state["hits"] = hits
    if hits and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say what the audit found (the secrets themselves masked)."""
    hits = _state.get("hits") or []
    texts = sum(len(t) for t in AUDIT.texts.values())
    line = f"secrets audit: {len(AUDIT.secrets)} secrets looked for in {texts} texts"
    terminalreporter.write_line(f"{line}: {len(hits)} found")
    for backend, kind, text in hits[:20]:
        terminalreporter.write_line(f"  LEAK ({backend}, in a {kind}): {text}", red=True)
