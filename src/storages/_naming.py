"""The name pipeline and the choice of a free name, written once for every backend.

Every public method turns a user's name into a service key with :meth:`NamePolicy._key` first;
names a service cannot store are recognized by one rule (:meth:`NamePolicy._key_problem`): reads
treat them as missing, writes refuse them with a clear error. When overwriting is off, a free name
is chosen with Django's ``get_alternative_name`` hook, within ``max_length``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from django.core.exceptions import SuspiciousFileOperation
from django.core.files.utils import validate_file_name

from storages import names
from storages._clients import ClientPool
from storages.errors import AlreadyExists
from storages.settings import Setting

__all__ = ["NamePolicy"]


class NamePolicy(ClientPool):
    """Names to keys, name limits and the overwrite policy's choice of names."""

    #: Key prefix under which every name is stored.
    location: Setting = Setting(None, "", doc="Key prefix for every stored name.")
    #: Whether saving an existing name replaces it (True) or picks a free name (False).
    file_overwrite: Setting = Setting(None, False, doc="Replace files with the same name.")

    #: How many free names a create-only save tries before it gives up.
    max_name_attempts: ClassVar[int] = 100
    #: The longest key, and the longest segment of one, in UTF-8 bytes (None: no limit known).
    max_key_bytes: ClassVar[int | None] = None
    max_segment_bytes: ClassVar[int | None] = None
    #: The error a write of an unstorable name raises (a ``SuspiciousFileOperation``).
    name_error: ClassVar[type[SuspiciousFileOperation]] = SuspiciousFileOperation

    def _configure(self) -> None:
        super()._configure()
        self.location = names.validate_location(self.location, self.setting_label("location"))

    if TYPE_CHECKING:  # Django's Storage, which every storage class also inherits, has these

        def exists(self, name: str) -> bool: ...
        def get_alternative_name(self, file_root: str, file_ext: str) -> str: ...

    def _key(self, name: object) -> str:
        """Return the service key for the user-supplied ``name`` (the one name pipeline)."""
        if self._config_error is not None:
            raise self._config_error
        return names.join_location(self.location, names.normalize_name(name))

    def _name(self, key: str) -> str:
        """Return the storage name of a service ``key``."""
        return names.relative_to_location(self.location, key)

    def _key_problem(self, key: str, writing: bool) -> str | None:
        """Return why the service cannot store ``key`` (None: it can)."""
        limit, segment_limit = self.max_key_bytes, self.max_segment_bytes
        if limit is not None and len(key) * 4 > limit and len(key.encode("utf-8")) > limit:
            size = len(key.encode("utf-8"))
            return f"is {size} bytes long with its location; {type(self).__name__} allows {limit}"
        if segment_limit is not None and len(key) * 4 > segment_limit:
            for segment in key.split("/"):
                if len(segment.encode("utf-8")) > segment_limit:
                    return (
                        f"has a part {len(segment.encode('utf-8'))} bytes long; file and "
                        f"directory names on {type(self).__name__} allow {segment_limit}"
                    )
        return None

    def _check_writable(self, key: str) -> None:
        problem = self._key_problem(key, writing=True)
        if problem is not None:
            raise self.name_error(
                f"The name {key[:40]!r}... {problem}. Give the file field a max_length so "
                "Django shortens names, or use shorter names."
            )

    def get_available_name(self, name: str, max_length: int | None = None) -> str:
        """Return a name to store a new file under, per the overwrite policy."""
        name = names.normalize_name(name)
        validate_file_name(name, allow_relative_path=True)
        if self.file_overwrite:
            return names.truncate_name(name, max_length)
        if self.is_name_available(name, max_length):
            return name
        return self._next_free_name(name, max_length)

    def is_name_available(self, name: str, max_length: int | None = None) -> bool:
        """Return whether ``name`` fits ``max_length`` and no file is stored under it."""
        if max_length is not None and len(name) > max_length:
            return False
        return not self.exists(name)

    def _next_free_name(self, name: str, max_length: int | None) -> str:
        dir_name, stem, ext = names.split_name(name)
        for _ in range(self.max_name_attempts):
            candidate = self.get_alternative_name(stem, ext)
            if max_length is not None:
                excess = len(names.join_location(dir_name, candidate)) - max_length
                if excess > 0:
                    stem = stem[:-excess] if excess < len(stem) else ""
                    if not stem:
                        return names.truncate_name(name, 0)  # raises with a clear message
                    candidate = self.get_alternative_name(stem, ext)
            candidate = names.join_location(dir_name, candidate)
            if self.is_name_available(candidate, max_length):
                return candidate
        raise AlreadyExists(f"No free name for {name!r} after {self.max_name_attempts} tries.")
