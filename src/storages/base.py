"""``BaseStorage``: the policy every backend shares, written once.

A backend subclasses it, declares its settings as :class:`~storages.settings.Setting` class
attributes, and fills in a few primitive hooks that take *service keys*, never user names:

* ``_connect()`` builds the SDK client (lazily, per thread when ``client_per_thread``);
* ``_write(key, body, overwrite)`` stores a body; with ``overwrite=False`` it must be an atomic
  create-only write that raises ``FileExistsError`` when the key exists;
* ``_exists_key``, ``_delete_key``, ``_size_key``, ``_modified_key`` (aware UTC datetime),
  ``_created_key``/``_accessed_key`` (optional), ``_listdir_key`` and ``_open_key``.

Everything else lives here: resolving settings, turning names into keys, choosing a free name,
retrying a create-only write on conflict, translating SDK errors (``error_rules``), pickling
without clients or secrets, and ``deconstruct()`` without secrets.
"""

from __future__ import annotations

import contextlib
import inspect
import itertools
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any, ClassVar

from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured, SuspiciousFileOperation
from django.core.files import File
from django.core.files.storage import Storage
from django.core.files.utils import validate_file_name

from storages import names
from storages.errors import AlreadyExists, ErrorRule, translate_errors
from storages.files import UploadBody
from storages.settings import NOT_GIVEN, Setting, Source, register

__all__ = ["BaseStorage"]

# Secrets of pickled storages stay in this process: a pickle carries only a token for them.
_SECRET_VAULT: dict[str, dict[str, Any]] = {}
_TRANSIENT = frozenset({"_local", "_lock", "_clients", "_shared_client", "_secret_cache"})


class BaseStorage(Storage):
    """The base of every backend: settings, names, overwrite policy and client lifecycle."""

    #: Key prefix under which every name is stored.
    location: Setting = Setting(None, "", doc="Key prefix for every stored name.")
    #: Whether saving an existing name replaces it (True) or picks a free name (False).
    file_overwrite: Setting = Setting(None, False, doc="Replace files with the same name.")
    #: Largest number of bytes a file object keeps in memory before spilling to disk.
    max_memory_size: Setting = Setting(None, 0, doc="Spool size before using disk (0: all).")

    #: Maps SDK exceptions to our error tree, most specific first (see :mod:`storages.errors`).
    error_rules: ClassVar[Sequence[ErrorRule]] = ()
    #: Whether each thread needs its own client (the SDK's clients are not thread-safe).
    client_per_thread: ClassVar[bool] = False
    #: How many free names a create-only save tries before it gives up.
    max_name_attempts: ClassVar[int] = 100
    #: Part size used by the default file class; backends override it with their setting.
    default_part_size: ClassVar[int] = 8 * 1024 * 1024
    #: The longest key the service accepts, in UTF-8 bytes (None: no limit we know of).
    max_key_bytes: ClassVar[int | None] = None
    #: Attributes ``_configure()`` derives from the settings (locks, signers, caches): never
    #: pickled, rebuilt by calling ``_configure()`` again after unpickling.
    derived_attrs: ClassVar[frozenset[str]] = frozenset()

    _setting_specs: ClassVar[dict[str, Setting]] = {}
    _constructor_args: tuple[tuple[Any, ...], dict[str, Any]]
    _keyword_map: ClassVar[dict[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        specs: dict[str, Setting] = {}
        for klass in reversed(cls.__mro__):
            for attr, value in vars(klass).items():
                if isinstance(value, Setting):
                    specs[attr] = value
        keywords: dict[str, str] = {}
        for attr, spec in specs.items():
            keywords[attr] = attr
            for alias in spec.keywords:
                keywords[alias] = attr
        cls._setting_specs = specs
        cls._keyword_map = keywords

    def __new__(cls, *args: Any, **kwargs: Any) -> BaseStorage:
        obj: BaseStorage = super().__new__(cls)
        # Recorded like Django's @deconstructible does; deconstruct() filters out secrets.
        obj._constructor_args = (args, kwargs)
        return obj

    def __init__(self, **options: Any) -> None:
        cls = type(self)
        unknown = sorted(k for k in options if k not in cls._keyword_map)
        if unknown:
            valid = ", ".join(sorted(cls._keyword_map))
            raise ImproperlyConfigured(
                f"{cls.__name__} got unknown option(s) {', '.join(unknown)}. "
                f"Valid options: {valid}."
            )
        given: dict[str, Any] = {}
        for keyword, value in options.items():
            attr = cls._keyword_map[keyword]
            if attr in given:
                raise ImproperlyConfigured(
                    f"{cls.__name__} got the option {attr!r} twice (once as {keyword!r})."
                )
            spec = cls._setting_specs[attr]
            if spec.deprecated:
                spec.warn_deprecated(keyword, stacklevel=3)
            given[attr] = value
        self._given = given
        self._config_error: ImproperlyConfigured | None = None
        self._sources: dict[str, str] = {}
        self._vault_key = uuid.uuid4().hex
        self._init_runtime()
        for attr in cls._setting_specs:
            self._resolve(attr)
        self._configure()
        register(self)

    # -- settings --------------------------------------------------------------------------

    def _resolve(self, attr: str, warn: bool = True) -> None:
        spec = type(self)._setting_specs[attr]
        if attr in self._given:
            value, source = self._given[attr], Source.KEYWORD
        else:
            static = inspect.getattr_static(type(self), attr)
            if isinstance(static, Setting):
                value, source = spec.lookup(warn)
            elif hasattr(static, "__get__") and not isinstance(static, (str, bytes)):
                # A property or similar on the user's subclass computes the value itself.
                self._sources[attr] = Source.CLASS
                return
            else:
                value, source = static, Source.CLASS
        self.__dict__[attr] = value
        self._sources[attr] = source

    def _configure(self) -> None:
        """Validate and normalize the resolved settings; backends extend this."""
        self._secret_cache: list[Any] | None = None
        self.location = names.validate_location(self.location, self.setting_label("location"))

    def _refresh_setting(self, global_name: str) -> None:
        """Re-resolve settings that read ``global_name`` (called on ``setting_changed``)."""
        refreshed = False
        for attr, spec in type(self)._setting_specs.items():
            if global_name in spec.global_names and self._sources.get(attr) in (
                Source.DJANGO,
                Source.ENV,
                Source.DEFAULT,
            ):
                self._resolve(attr, warn=False)
                refreshed = True
        if refreshed:
            self._config_error = None
            try:
                self._configure()
            except ImproperlyConfigured as exc:
                # Raised at this storage's next use, not inside someone else's override_settings.
                self._config_error = exc
            self._reset_clients()

    def setting_label(self, attr: str) -> str:
        """Return how to name setting ``attr`` in an error message (global name and option)."""
        spec = type(self)._setting_specs.get(attr)
        if spec is None or not spec.name:
            return f"the {attr!r} option"
        return f"{spec.name} (option {attr!r})"

    def setting_source(self, attr: str) -> str:
        """Return where the value of setting ``attr`` came from (keyword, class, django, ...)."""
        return self._sources[attr]

    def _secret_values(self) -> list[Any]:
        # Cached: every translated error redacts these, and settings rarely change.
        secrets = self.__dict__.get("_secret_cache")
        if secrets is None:
            secrets = [
                self.__dict__.get(attr)
                for attr, spec in type(self)._setting_specs.items()
                if spec.secret and self.__dict__.get(attr)
            ]
            self._secret_cache = secrets
        return secrets

    # -- clients ---------------------------------------------------------------------------

    def _init_runtime(self) -> None:
        self._local = threading.local()
        self._lock = threading.RLock()
        self._clients: list[Any] = []
        self._shared_client: Any = None

    def _connect(self) -> Any:
        """Build a new SDK client; called lazily, once per thread when ``client_per_thread``."""
        raise NotImplementedError(f"{type(self).__name__} must implement _connect()")

    def _disconnect(self, client: Any) -> None:
        """Release ``client``'s connections; the default does nothing."""

    @property
    def client(self) -> Any:
        """Return this thread's SDK client, connecting on first use."""
        if self.client_per_thread:
            client = getattr(self._local, "client", None)
            if client is None:
                client = self._new_client()
                self._local.client = client
            return client
        client = self._shared_client
        if client is None:
            with self._lock:
                if self._shared_client is None:
                    self._shared_client = self._new_client()
                client = self._shared_client
        return client

    def _new_client(self) -> Any:
        if self._config_error is not None:
            raise self._config_error
        with self.translating():
            client = self._connect()
        with self._lock:
            self._clients.append(client)
        return client

    def _reset_clients(self) -> None:
        """Forget every client so the next operation connects again with current settings."""
        with self._lock:
            old = list(self._clients)
            self._clients.clear()
            self._local = threading.local()
            self._shared_client = None
        for client in old:
            self._disconnect_quietly(client)

    def _disconnect_quietly(self, client: Any) -> None:
        # Closing is best effort: the client is forgotten either way.
        with contextlib.suppress(Exception):
            self._disconnect(client)

    def close(self) -> None:
        """Close every client this storage opened (in any thread)."""
        self._reset_clients()

    @contextmanager
    def translating(self, name: str = "") -> Iterator[None]:
        """Translate SDK errors raised in the block with this backend's ``error_rules``."""
        with translate_errors(self.error_rules, name=name, secrets=self._secret_values()):
            yield

    # -- names -----------------------------------------------------------------------------

    def _key(self, name: object) -> str:
        """Return the service key for the user-supplied ``name`` (the one name pipeline)."""
        if self._config_error is not None:
            raise self._config_error
        return names.join_location(self.location, names.normalize_name(name))

    def _name(self, key: str) -> str:
        """Return the storage name of a service ``key``."""
        return names.relative_to_location(self.location, key)

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

    # -- saving ----------------------------------------------------------------------------

    def save(self, name: str | None, content: Any, max_length: int | None = None) -> str:
        """Store ``content`` under ``name`` (or a free variant of it) and return the name used."""
        if name is None:
            name = content.name
        if not hasattr(content, "chunks"):
            content = File(content, name)
        validate_file_name(str(name), allow_relative_path=True)
        name = self.get_available_name(str(name), max_length=max_length)
        saved = self._save_with_policy(name, content, max_length)
        validate_file_name(saved, allow_relative_path=True)
        return saved

    def _save(self, name: str, content: Any) -> str:
        return self._save_with_policy(name, content, None)

    def _save_with_policy(self, name: str, content: Any, max_length: int | None) -> str:
        name = names.normalize_name(name)
        self._check_key_length(self._key(name))
        overwrite = bool(self.file_overwrite)
        body = UploadBody(content, replayable=not overwrite, spool_size=self.max_memory_size)
        try:
            for _ in range(self.max_name_attempts):
                try:
                    with self.translating(name):
                        self._write(self._key(name), body, overwrite=overwrite)
                    return name
                except FileExistsError:
                    if overwrite:
                        raise
                    # Someone stored this name between our check and our write: take the next.
                    body.rewind()
                    name = self._next_free_name(name, max_length)
        finally:
            body.release()
        raise AlreadyExists(f"No free name for {name!r} after {self.max_name_attempts} tries.")

    def _check_key_length(self, key: str) -> None:
        limit = self.max_key_bytes
        if limit is not None and len(key) * 4 > limit and len(key.encode("utf-8")) > limit:
            raise SuspiciousFileOperation(
                f"The name {key[:40]!r}... is {len(key.encode('utf-8'))} bytes long with its "
                f"location; {type(self).__name__} allows {limit}. Give the file field a "
                "max_length so Django shortens names, or use shorter names."
            )

    def _write(self, key: str, body: UploadBody, overwrite: bool) -> None:
        """Store ``body`` at ``key``; when not ``overwrite``, raise ``FileExistsError`` if taken."""
        raise NotImplementedError(f"{type(self).__name__} must implement _write()")

    # -- the rest of Django's Storage API --------------------------------------------------

    def _open(self, name: str, mode: str = "rb") -> File:
        key = self._key(name)
        if any(flag in mode for flag in "wax+"):
            # Refuse before the first part is uploaded, not at close() with the data gone.
            self._check_key_length(key)
        with self.translating(name):
            return self._open_key(key, names.normalize_name(name), mode)

    def _open_key(self, key: str, name: str, mode: str) -> File:
        raise NotImplementedError(f"{type(self).__name__} must implement _open_key()")

    def exists(self, name: str) -> bool:
        """Return whether a file is stored under ``name``."""
        key = self._key(name)
        with self.translating(name):
            return bool(self._exists_key(key))

    def _exists_key(self, key: str) -> bool:
        raise NotImplementedError

    def delete(self, name: str) -> None:
        """Delete the file stored under ``name``; a missing file is not an error."""
        key = self._key(name)
        if not key:
            raise names.UnsafeName("Refusing to delete the storage root.")
        # Suppress outside the translation, which turns SDK "not found" errors into NotFound.
        with contextlib.suppress(FileNotFoundError), self.translating(name):
            self._delete_key(key)

    def _delete_key(self, key: str) -> None:
        raise NotImplementedError

    def size(self, name: str) -> int:
        """Return the size in bytes of the file stored under ``name``."""
        key = self._key(name)
        with self.translating(name):
            return int(self._size_key(key))

    def _size_key(self, key: str) -> int:
        raise NotImplementedError

    def listdir(self, path: str) -> tuple[list[str], list[str]]:
        """Return ``(directories, files)`` directly under ``path``, names relative to it."""
        key = self._key(path)
        prefix = f"{key}/" if key else ""
        with self.translating(path):
            dirs, files = self._listdir_key(prefix)
        return sorted(set(dirs)), sorted(set(files))

    def _listdir_key(self, prefix: str) -> tuple[Sequence[str], Sequence[str]]:
        raise NotImplementedError

    def get_modified_time(self, name: str) -> datetime:
        """Return when the file was last modified (aware UTC if ``USE_TZ``, else naive local)."""
        key = self._key(name)
        with self.translating(name):
            return self._localize(self._modified_key(key))

    def _modified_key(self, key: str) -> datetime:
        raise NotImplementedError

    def get_created_time(self, name: str) -> datetime:
        """Return when the file was created, where the service records it."""
        key = self._key(name)
        with self.translating(name):
            return self._localize(self._created_key(key))

    def _created_key(self, key: str) -> datetime:
        raise NotImplementedError(f"{type(self).__name__} does not know when files were created.")

    def get_accessed_time(self, name: str) -> datetime:
        """Return when the file was last read, where the service records it."""
        key = self._key(name)
        with self.translating(name):
            return self._localize(self._accessed_key(key))

    def _accessed_key(self, key: str) -> datetime:
        raise NotImplementedError(f"{type(self).__name__} does not know when files were read.")

    @staticmethod
    def _localize(value: datetime) -> datetime:
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        if getattr(django_settings, "USE_TZ", True):
            return value.astimezone(timezone.utc)
        return value.astimezone().replace(tzinfo=None)

    # -- identity: repr, deconstruct, pickle -----------------------------------------------

    def _public_keywords(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        specs, keymap = type(self)._setting_specs, type(self)._keyword_map
        return {k: v for k, v in kwargs.items() if not (k in keymap and specs[keymap[k]].secret)}

    def deconstruct(self) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
        """Return what a migration needs to rebuild this storage: never a secret."""
        args, kwargs = self._constructor_args
        cls = type(self)
        return f"{cls.__module__}.{cls.__qualname__}", tuple(args), self._public_keywords(kwargs)

    def __repr__(self) -> str:
        shown = self._public_keywords(dict(self._given))
        shown.setdefault("location", self.location)
        text = " ".join(f"{k}={v!r}" for k, v in itertools.islice(shown.items(), 8))
        return f"<{type(self).__name__} {text}>"

    def __getstate__(self) -> dict[str, Any]:
        dropped = _TRANSIENT | self.derived_attrs
        state = {k: v for k, v in self.__dict__.items() if k not in dropped}
        specs = type(self)._setting_specs
        secrets = {attr: state.pop(attr) for attr, s in specs.items() if s.secret and attr in state}
        given = dict(state["_given"])
        secrets.update({f"given:{a}": given.pop(a) for a in list(given) if specs[a].secret})
        state["_given"] = given
        args, kwargs = state["_constructor_args"]
        state["_constructor_args"] = (args, self._public_keywords(kwargs))
        _SECRET_VAULT[self._vault_key] = {**secrets, "kwargs": kwargs}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_runtime()
        vault = _SECRET_VAULT.get(self._vault_key)
        specs = type(self)._setting_specs
        if vault is not None:
            for attr, spec in specs.items():
                if spec.secret:
                    if f"given:{attr}" in vault:
                        self._given[attr] = vault[f"given:{attr}"]
                    if attr in vault:
                        self.__dict__[attr] = vault[attr]
            self._constructor_args = (self._constructor_args[0], vault["kwargs"])
        else:
            # Another process: secrets come from its own settings and environment again.
            for attr, spec in specs.items():
                if spec.secret:
                    self._resolve(attr)
        self._configure()
        register(self)


# ``NOT_GIVEN`` is re-exported for backends that need a "not supplied" default.
__all__ += ["NOT_GIVEN"]
