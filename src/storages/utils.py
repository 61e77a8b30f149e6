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
    "check_location",
    "clean_name",
    "get_available_overwrite_name",
    "is_seekable",
    "lookup_env",
    "safe_join",
    "setting",
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

    Raises :class:`storages.names.UnsafeName`, which is both a ``SuspiciousFileOperation`` and,
    as in the 1.9.1 helper, a ``ValueError``.
    """
    base_clean = normalize_name(base.lstrip("/")) if base else ""
    tail = "/".join(str(p) for p in paths)
    tail = tail.replace("\\", "/").lstrip("/")
    joined = normalize_name(tail)
    return f"{base_clean}/{joined}" if base_clean and joined else base_clean or joined


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
