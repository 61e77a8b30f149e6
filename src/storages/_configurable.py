"""Settings of a storage in one place: resolution, refresh, secrets, pickling and identity.

:class:`Configurable` resolves every :class:`~storages.settings.Setting` a class declares, highest
first: constructor keyword, attribute of a user's subclass, Django setting, environment variable,
default. It keeps the live instances in a registry so that ``setting_changed`` (fired by
``override_settings``) re-resolves the values that came from Django or the environment, keeps
secrets out of ``repr``, ``deconstruct()`` and pickles, and rebuilds derived state after
unpickling.
"""

from __future__ import annotations

import inspect
import itertools
import threading
import uuid
import weakref
from typing import Any, ClassVar

from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

from storages.settings import Setting, Source

__all__ = ["Configurable"]

# Secrets of pickled storages stay in this process: a pickle carries only a token for them.
_SECRET_VAULT: dict[str, dict[str, Any]] = {}

# Live instances, so that a changed Django setting reaches every one that read it.
_live: weakref.WeakSet[Configurable] = weakref.WeakSet()
_live_lock = threading.Lock()


def _on_setting_changed(*, setting: str, **_: Any) -> None:
    with _live_lock:
        instances = list(_live)
    for instance in instances:
        instance._refresh_setting(setting)


setting_changed.connect(_on_setting_changed, dispatch_uid="storages.settings.refresh")


class Configurable:
    """Resolve declared settings; keep them current, secret-free in output, and picklable."""

    #: Attributes that hold runtime state (clients, locks): never pickled, rebuilt by
    #: ``_init_runtime()``.
    runtime_attrs: ClassVar[frozenset[str]] = frozenset({"_secret_cache"})
    #: Attributes ``_configure()`` derives from the settings (signers, caches, sizes): never
    #: pickled, rebuilt by calling ``_configure()`` again after unpickling.
    derived_attrs: ClassVar[frozenset[str]] = frozenset()

    _setting_specs: ClassVar[dict[str, Setting]] = {}
    _keyword_map: ClassVar[dict[str, str]] = {}
    _constructor_args: tuple[tuple[Any, ...], dict[str, Any]]
    _given: dict[str, Any]
    _sources: dict[str, str]
    _config_error: ImproperlyConfigured | None

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

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        obj = super().__new__(cls)
        # Recorded like Django's @deconstructible does; deconstruct() filters out secrets.
        obj._constructor_args = (args, kwargs)
        return obj

    def __init__(self, **options: Any) -> None:
        self._given = self._check_options(options)
        self._config_error = None
        self._sources = {}
        self._vault_key = uuid.uuid4().hex
        self._init_runtime()
        self._load_default_overrides()
        for attr in type(self)._setting_specs:
            self._resolve(attr)
        self._configure()
        with _live_lock:
            _live.add(self)

    def _check_options(self, options: dict[str, Any]) -> dict[str, Any]:
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
                spec.warn_deprecated(keyword, stacklevel=4)
            given[attr] = value
        return given

    def _init_runtime(self) -> None:
        """Create the runtime state (clients, locks); extended by subclasses."""
        self._secret_cache: list[Any] | None = None

    def get_default_settings(self) -> dict[str, Any]:
        """Return, by attribute name, the value each setting takes when no keyword or subclass
        attribute gives one: the Django setting, the environment, or the built-in default."""
        return {
            attr: spec.lookup(warn=False)[0] for attr, spec in type(self)._setting_specs.items()
        }

    def _load_default_overrides(self) -> None:
        # A subclass that overrides get_default_settings() changes the defaults it returns.
        overridden = type(self).get_default_settings is not Configurable.get_default_settings
        self._default_overrides = dict(self.get_default_settings()) if overridden else {}

    def _resolve(self, attr: str, warn: bool = True) -> None:
        spec = type(self)._setting_specs[attr]
        if attr in self._given:
            value, source = self._given[attr], Source.KEYWORD
        else:
            static = inspect.getattr_static(type(self), attr)
            if isinstance(static, Setting):
                value, source = spec.lookup(warn)
                if attr in self._default_overrides:
                    value = self._default_overrides[attr]
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
        self._secret_cache = None

    def _settings_changed(self) -> None:
        """React to re-resolved settings (drop clients built with the old ones)."""

    def _refresh_setting(self, global_name: str) -> None:
        """Re-resolve settings that read ``global_name`` (called on ``setting_changed``)."""
        refreshed = False
        self._load_default_overrides()
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
            self._settings_changed()

    def setting_label(self, attr: str) -> str:
        """Return how to name setting ``attr`` in an error message (global name and option)."""
        spec = type(self)._setting_specs.get(attr)
        if spec is None or not spec.name:
            return f"the {attr!r} option"
        return f"{spec.name} (option {attr!r})"

    def setting_source(self, attr: str) -> str:
        """Return where the value of setting ``attr`` came from (keyword, class, django, ...)."""
        return self._sources[attr]

    def _extra_secrets(self) -> list[Any]:
        """Return secret values that are not settings of their own (e.g. a prompted password)."""
        return []

    def _secret_values(self) -> list[Any]:
        # Cached: every translated error redacts these, and settings rarely change.
        secrets = self.__dict__.get("_secret_cache")
        if secrets is None:
            secrets = [
                self.__dict__.get(attr)
                for attr, spec in type(self)._setting_specs.items()
                if spec.secret and self.__dict__.get(attr)
            ]
            secrets.extend(self._extra_secrets())
            self._secret_cache = secrets
        return secrets

    def _forget_secrets(self) -> None:
        self._secret_cache = None

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
        shown.setdefault("location", getattr(self, "location", ""))
        text = " ".join(f"{k}={v!r}" for k, v in itertools.islice(shown.items(), 8))
        return f"<{type(self).__name__} {text}>"

    def __getstate__(self) -> dict[str, Any]:
        dropped = self.runtime_attrs | self.derived_attrs
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
        with _live_lock:
            _live.add(self)
