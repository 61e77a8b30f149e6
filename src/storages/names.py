"""Pure functions that turn user-supplied names into service keys, and nothing else.

Every public storage method sends its name through :func:`normalize_name` and then
:func:`join_location`; nothing else in the package builds a key. The rules:

* backslashes become ``/``, repeated slashes and ``.`` elements collapse, a trailing ``/`` goes;
* an absolute name, a ``..`` element or a NUL byte raises :class:`UnsafeName`
  (a ``SuspiciousFileOperation``), whatever ``location`` is, so no key lands outside it; so
  does a name UTF-8 cannot encode (a lone surrogate), which no service can store.
"""

from __future__ import annotations

import posixpath
from pathlib import PurePath, PurePosixPath

from django.core.exceptions import ImproperlyConfigured, SuspiciousFileOperation

__all__ = [
    "UnsafeName",
    "join_location",
    "normalize_name",
    "relative_to_location",
    "split_name",
    "truncate_name",
    "validate_location",
]


class UnsafeName(SuspiciousFileOperation, ValueError):
    """A name that could reach outside the storage's ``location``.

    It is also a ``ValueError`` because the 1.9.1 ``safe_join`` helper raised that.
    """


def _as_text(name: object) -> str:
    if isinstance(name, PurePath):
        return str(name)
    if isinstance(name, str):
        return name
    raise TypeError(f"A storage name must be a str or a path, not {type(name).__name__}.")


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def normalize_name(name: object) -> str:
    """Return the canonical relative form of ``name``, or raise :class:`UnsafeName`."""
    if (
        type(name) is str
        and name
        and name[0] not in "/."
        and name[-1] != "/"
        and "\\" not in name
        and "//" not in name
        and "/." not in name
        and "\x00" not in name
        and (name.isascii() or _encodable(name))
    ):
        return name  # already canonical: the common case, kept cheap for url() on hot pages
    text = _as_text(name)
    if "\x00" in text:
        raise UnsafeName(f"The name {text!r} contains a NUL byte.")
    if not _encodable(text):
        # A lone surrogate (say, from os.fsdecode() of a file name that is not UTF-8): no
        # service can store it, and every SDK would fail on it somewhere else.
        raise UnsafeName(f"The name {text!r} contains a character UTF-8 cannot encode.")
    text = text.replace("\\", "/")
    if text.startswith("/"):
        raise UnsafeName(f"Absolute names are not allowed: {text!r}.")
    parts = [part for part in text.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise UnsafeName(f"Detected path traversal attempt in {text!r}.")
    return "/".join(parts)


def validate_location(value: object, setting_name: str = "location") -> str:
    """Return ``value`` cleaned for use as a key prefix, or raise ``ImproperlyConfigured``."""
    if value is None:
        return ""
    if not isinstance(value, (str, PurePath)):
        raise ImproperlyConfigured(f"{setting_name} must be a string, not {type(value).__name__}.")
    text = str(value)
    if text.startswith("/"):
        raise ImproperlyConfigured(
            f"{setting_name} must be a relative key prefix and cannot start with '/': use "
            f"{text.lstrip('/')!r} instead of {text!r}."
        )
    try:
        return normalize_name(text)
    except UnsafeName as exc:
        raise ImproperlyConfigured(f"{setting_name} is not a safe key prefix: {exc}") from None


def join_location(location: str, name: str) -> str:
    """Return the key of the already normalized ``name`` under ``location``."""
    if not location:
        return name
    if not name:
        return location
    return f"{location}/{name}"


def relative_to_location(location: str, key: str) -> str:
    """Return the storage name of a service ``key`` that lies under ``location``."""
    if not location:
        return key
    prefix = location + "/"
    if key.startswith(prefix):
        return key[len(prefix) :]
    if key == location:
        return ""
    raise UnsafeName(f"The key {key!r} is outside the location {location!r}.")


def split_name(name: str) -> tuple[str, str, str]:
    """Split a name into (directory, stem, extensions); extensions keep their dots."""
    dir_name, file_name = posixpath.split(name)
    suffixes = "".join(PurePosixPath(file_name).suffixes)
    stem = file_name[: len(file_name) - len(suffixes)] if suffixes else file_name
    return dir_name, stem, suffixes


def truncate_name(name: str, max_length: int | None) -> str:
    """Shorten the stem of ``name`` so the whole name fits in ``max_length`` characters."""
    if max_length is None or len(name) <= max_length:
        return name
    dir_name, stem, ext = split_name(name)
    excess = len(name) - max_length
    stem = stem[:-excess] if excess < len(stem) else ""
    if not stem:
        raise SuspiciousFileOperation(
            f'Storage cannot fit the name "{name}" into {max_length} characters. Make sure the '
            'file field allows a sufficient "max_length".'
        )
    return posixpath.join(dir_name, stem + ext) if dir_name else stem + ext
