"""Declarative settings: each backend lists its settings as class attributes.

A :class:`Setting` knows its Django setting name, older aliases, the environment variables that
may supply it (credentials only), its default, and whether it is a secret. The storage resolves
every setting when it is created, highest first:

1. a constructor keyword (which is what ``STORAGES[...]["OPTIONS"]`` becomes),
2. an attribute set on the user's subclass,
3. the Django setting (or one of its aliases),
4. an environment variable,
5. the default.

Resolution itself, and the refresh when Django's ``setting_changed`` signal fires, live in
:mod:`storages._configurable`.
"""

from __future__ import annotations

import copy
import os
import warnings
from collections.abc import Iterable
from typing import Any

from django.conf import settings as django_settings

__all__ = ["NOT_GIVEN", "Setting", "Source"]


class _NotGiven:
    """The type of :data:`NOT_GIVEN`: a value that was not supplied, distinct from ``None``."""

    _instance: _NotGiven | None = None

    def __new__(cls) -> _NotGiven:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NOT_GIVEN"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN: Any = _NotGiven()


class Source:
    """Where a resolved value came from (strings, so they read well in ``repr``)."""

    KEYWORD = "keyword"
    CLASS = "class"
    DJANGO = "django"
    ENV = "env"
    DEFAULT = "default"


class Setting:
    """Declare one configurable value of a storage backend.

    Reading it on a storage instance gives the resolved value (typed ``Any``: the value's type
    is whatever the user configured, validated by the backend's ``_configure()``).
    """

    attr: str

    def __init__(
        self,
        name: str | None,
        default: Any = None,
        *,
        aliases: Iterable[str] = (),
        env: Iterable[str] = (),
        secret: bool = False,
        keywords: Iterable[str] = (),
        deprecated: str | None = None,
        factory: bool = False,
        doc: str = "",
    ) -> None:
        self.name = name
        self.aliases = tuple(aliases)
        self.env = tuple(env)
        self.secret = secret
        self.keywords = tuple(keywords)
        self.deprecated = deprecated
        self.factory = factory
        self.doc = doc
        self._default = default

    def __set_name__(self, owner: type, attr: str) -> None:
        self.attr = attr

    def __get__(self, obj: object | None, owner: type) -> Any:
        if obj is None:
            # On the class, a setting reads as its default, like a plain class attribute would
            # (``S3Storage.file_overwrite``); the declaration itself is in ``_setting_specs``.
            return self.default()
        # Only reached before the storage resolved its settings (e.g. a subclass's __init__
        # reading an attribute before calling super().__init__()).
        value, _source = self.lookup()
        return value

    @property
    def global_names(self) -> tuple[str, ...]:
        """Return the Django setting name followed by its aliases."""
        return ((self.name,) if self.name else ()) + self.aliases

    def default(self) -> Any:
        """Return a fresh copy of the default value."""
        if self.factory and callable(self._default):
            return self._default()
        return copy.copy(self._default)

    def lookup(self, warn: bool = True) -> tuple[Any, str]:
        """Return ``(value, source)`` from the Django settings, the environment or the default."""
        for global_name in self.global_names:
            if hasattr(django_settings, global_name):
                value = getattr(django_settings, global_name)
                if self.deprecated and warn:
                    self.warn_deprecated(global_name)
                return value, Source.DJANGO
        for var in self.env:
            env_value = os.environ.get(var)
            if env_value:
                return env_value, Source.ENV
        return self.default(), Source.DEFAULT

    def warn_deprecated(self, used_name: str, stacklevel: int = 5) -> None:
        """Emit the ``DeprecationWarning`` that says what replaces this setting."""
        warnings.warn(
            f"{used_name} is deprecated: {self.deprecated}",
            DeprecationWarning,
            stacklevel=stacklevel,
        )

    def __repr__(self) -> str:
        return f"Setting({self.name!r}, default={self._default!r})"
