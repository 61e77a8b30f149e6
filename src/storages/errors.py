"""Errors raised by every backend.

The tree, from what callers already catch down to what this package adds::

    OSError
    ├── FileNotFoundError ──┐
    ├── FileExistsError ────┤
    ├── PermissionError ────┤
    └── StorageError ───────┴── NotFound, AlreadyExists, AccessDenied
        └── (per backend, once they exist) FTPStorageException, DropboxStorageException
    django.core.exceptions.ImproperlyConfigured    bad or missing configuration
    django.core.exceptions.SuspiciousFileOperation a name that would escape the storage

So ``except FileNotFoundError`` and ``except StorageError`` both catch a missing object. Only
foreign errors are translated: exceptions of the SDK's own packages and ``OSError`` (the
network). Every translated error is raised ``from`` the error it replaces, and its message never
carries a secret (see :func:`redact`). Anything else (a ``KeyError`` or ``TypeError`` of our own
code) is a bug and propagates unchanged.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import NoReturn

__all__ = [
    "AccessDenied",
    "AlreadyExists",
    "ErrorRule",
    "NotFound",
    "RedactedError",
    "StorageError",
    "is_foreign",
    "raise_translated",
    "redact",
    "translate_errors",
]


class StorageError(OSError):
    """A storage service failed in a way no more specific error describes."""


class RedactedError(Exception):
    """Stands in, as the cause of a translated error, for an SDK error whose text held a secret.

    It carries the SDK error's traceback and its text with the secrets masked.
    """


class NotFound(StorageError, FileNotFoundError):
    """The named object or directory does not exist."""


class AlreadyExists(StorageError, FileExistsError):
    """A create-only write found an object already stored under the name."""


class AccessDenied(StorageError, PermissionError):
    """The service refused the operation for lack of permission."""


#: A rule maps SDK exceptions onto our tree: an exception class (or a predicate taking the
#: exception) and the class to raise instead. Tables are checked in order, most specific first.
ErrorRule = tuple["type[BaseException] | Callable[[BaseException], bool]", type[OSError]]

_MASK = "********"
# Mistakes in the calling code, not service failures: never disguised as a StorageError.
_PROGRAMMING = (NotImplementedError, io.UnsupportedOperation)


def is_foreign(exc: BaseException, sdk_packages: Collection[str]) -> bool:
    """Return whether ``exc`` comes from the network (``OSError``, ``EOFError``) or from one of
    ``sdk_packages`` (top-level package names), rather than from our own code."""
    if isinstance(exc, (OSError, EOFError)):
        return True
    return any(k.__module__.partition(".")[0] in sdk_packages for k in type(exc).__mro__[:-2])


def redact(text: str, secrets: Iterable[object]) -> str:
    """Return ``text`` with every non-trivial secret value replaced by asterisks."""
    for secret in secrets:
        if isinstance(secret, bytes):
            secret = secret.decode("utf-8", "replace")
        if isinstance(secret, str) and len(secret) >= 4:
            text = text.replace(secret, _MASK)
    return text


def _matches(
    rule: type[BaseException] | Callable[[BaseException], bool], exc: BaseException
) -> bool:
    if isinstance(rule, type):
        return isinstance(exc, rule)
    return bool(rule(exc))


def raise_translated(
    exc: BaseException,
    rules: Sequence[ErrorRule],
    *,
    name: str = "",
    secrets: Iterable[object] = (),
) -> NoReturn:
    """Raise the error of our tree that ``rules`` assign to ``exc``, chained from it."""
    if isinstance(exc, StorageError):
        raise exc
    target: type[OSError] = StorageError
    for rule, cls in rules:
        if _matches(rule, exc):
            target = cls
            break
    text = f"{type(exc).__name__}: {exc}"
    detail = redact(text, secrets)
    message = f"{name}: {detail}" if name else detail
    if detail != text:
        # The SDK's error names a secret: chain a copy without it (tracebacks print the cause).
        raise target(message) from RedactedError(detail).with_traceback(exc.__traceback__)
    raise target(message) from exc


class translate_errors:  # used like a function: ``with translate_errors(...):``
    """Translate the foreign exceptions (see :func:`is_foreign`) raised inside the block with
    :func:`raise_translated`.

    Errors of our own tree, Django's configuration/suspicious-name errors, anything in
    ``passthrough`` and every exception of our own code go through untouched. ``secrets`` may
    be a callable returning them, called only when an error is translated. A class rather
    than a generator: every storage call enters one (0.33 µs instead of 2.3 µs).
    """

    __slots__ = ("name", "passthrough", "rules", "sdk_packages", "secrets")

    def __init__(
        self,
        rules: Sequence[ErrorRule],
        sdk_packages: Collection[str] = (),
        *,
        name: str = "",
        secrets: Iterable[object] | Callable[[], Iterable[object]] = (),
        passthrough: tuple[type[BaseException], ...] = (),
    ) -> None:
        self.rules = rules
        self.sdk_packages = sdk_packages
        self.name = name
        self.secrets = secrets
        self.passthrough = passthrough

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, _tb: object
    ) -> None:
        # Returning (None) lets the exception go on; raise_translated replaces it.
        if exc is None or not isinstance(exc, Exception):
            return
        if isinstance(exc, (StorageError, *_PROGRAMMING, *self.passthrough)) or _is_django(exc):
            return
        if is_foreign(exc, self.sdk_packages):
            secrets = self.secrets() if callable(self.secrets) else self.secrets
            raise_translated(exc, self.rules, name=self.name, secrets=secrets)


def _is_django(exc: BaseException) -> bool:
    """Return whether ``exc`` is a configuration or suspicious-name error (never translated)."""
    global _DJANGO_ERRORS
    if _DJANGO_ERRORS is None:
        from django.core.exceptions import ImproperlyConfigured, SuspiciousOperation

        _DJANGO_ERRORS = (ImproperlyConfigured, SuspiciousOperation)
    return isinstance(exc, _DJANGO_ERRORS)


# Imported on first use: this module is imported before Django's settings may be.
_DJANGO_ERRORS: tuple[type[Exception], ...] | None = None
