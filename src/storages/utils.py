"""The helper names that the django-storages documentation shows, for code that imports them."""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.files.utils import validate_file_name

from storages.names import UnsafeName, normalize_name, truncate_name, validate_location

__all__ = [
    "ReadBytesWrapper",
    "check_location",
    "clean_name",
    "get_available_overwrite_name",
    "is_seekable",
    "lookup_env",
    "safe_join",
    "setting",
    "to_bytes",
]


def setting(name: str, default: Any = None) -> Any:
    """Return the Django setting ``name``, or ``default`` when it is not set."""
    return getattr(settings, name, default)


def clean_name(name: object) -> str:
    """Return ``name`` with ``/`` separators and ``.``/``..`` folded, keeping a trailing ``/``."""
    text = str(name).replace("\\", "/")
    cleaned = posixpath.normpath(text)
    if text.endswith("/") and not cleaned.endswith("/"):
        cleaned += "/"
    return "" if cleaned == "." else cleaned


def safe_join(base: str, *paths: object) -> str:
    """Join ``paths`` onto ``base`` and return the result, refusing anything outside ``base``.

    A trailing slash of the last part is kept (``safe_join("base", "a/")`` is ``"base/a/"``, and
    ``safe_join("base", "")`` is ``"base/"``). An escape raises :class:`storages.names.UnsafeName`,
    which is both a ``SuspiciousFileOperation`` and, as callers expect, a ``ValueError``.
    """
    base_clean = normalize_name(base.lstrip("/")) if base else ""
    parts = [str(p).replace("\\", "/") for p in paths]
    tail = "/".join(parts).lstrip("/")
    directory = not parts or parts[-1] == "" or parts[-1].endswith("/")
    joined = normalize_name(tail) if tail.strip("/") else ""
    result = f"{base_clean}/{joined}" if base_clean and joined else base_clean or joined
    if directory and result and not result.endswith("/"):
        result += "/"
    return result


def to_bytes(content: str | bytes | bytearray | memoryview) -> bytes:
    """Return ``content`` as bytes: text is encoded as UTF-8."""
    if isinstance(content, str):
        return content.encode("utf-8")
    return bytes(content)


class ReadBytesWrapper:
    """Wrap a text or binary file so that ``read()`` always returns bytes.

    Text is encoded with ``encoding``, else the file's own encoding, else UTF-8. Every other
    attribute is the wrapped file's.
    """

    def __init__(self, file: Any, encoding: str | None = None) -> None:
        self._file = file
        self._encoding = encoding or getattr(file, "encoding", None) or "utf-8"

    def read(self, *args: Any, **kwargs: Any) -> bytes:
        """Return the bytes ``file.read()`` gives (text encoded)."""
        data = self._file.read(*args, **kwargs)
        if isinstance(data, str):
            return data.encode(self._encoding)
        return bytes(data)

    def readable(self) -> bool:
        """Return True: the wrapper is for reading."""
        return True

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._file, attr)


def check_location(storage: Any) -> None:
    """Raise ``ImproperlyConfigured`` when ``storage.location`` starts with a slash."""
    validate_location(getattr(storage, "location", ""))


def lookup_env(names: Iterable[str]) -> str | None:
    """Return the first non-empty environment variable among ``names``."""
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


def get_available_overwrite_name(name: str, max_length: int | None) -> str:
    """Return ``name`` validated and truncated to ``max_length``, for storages that overwrite."""
    text = str(name).replace("\\", "/")
    dir_name, file_name = posixpath.split(text)
    if ".." in dir_name.split("/"):
        raise UnsafeName(f"Detected path traversal attempt in {dir_name!r}.")
    validate_file_name(file_name)
    return truncate_name(text, max_length)


def is_seekable(file_object: Any) -> bool:
    """Return whether ``file_object`` can seek (without raising for objects that cannot)."""
    seekable = getattr(file_object, "seekable", None)
    if seekable is None:
        return hasattr(file_object, "seek")
    try:
        return bool(seekable())
    except (ValueError, OSError):
        return False
