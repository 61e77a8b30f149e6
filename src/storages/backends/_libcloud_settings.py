"""The settings of the Apache Libcloud backend: provider aliases, driver classes, drivers.

``LIBCLOUD_PROVIDERS`` maps aliases to provider entries; ``DEFAULT_LIBCLOUD_PROVIDER`` (or the
storage's first argument, or its ``provider_name`` option) picks one. An entry names the driver
``type`` (the dotted ``libcloud.storage.types.Provider.X`` path, the constant itself, or a driver
class), the ``user`` and ``key`` passed as the driver's first two arguments, the ``bucket``
(container) and any further driver keyword (``region``, ``project``, ``host``, ``port``,
``secure``, ``ex_use_locking``, ...).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from storages._object_store import ObjectStore
from storages.deps import require
from storages.settings import Setting

__all__ = ["DriverTraits", "LibCloudSettings", "describe", "driver_class_for"]

#: The module path the dotted ``type`` strings of the documentation start with.
PROVIDER_PATH = "libcloud.storage.types.Provider"
#: Entry keys the storage reads itself; every other key is a keyword of the driver.
OWN_KEYS = frozenset({"type", "user", "key", "bucket"})
#: Driver keywords whose values are kept out of error messages.
SECRET_WORDS = ("key", "secret", "token", "password")
#: Provider constants of libcloud 0.x that the django-storages 1.9.1 documentation uses.
LEGACY_CONSTANTS = {
    "S3_US_STANDARD_HOST": "S3",
    "S3_US_WEST_HOST": "S3_US_WEST",
    "S3_US_WEST_OREGON_HOST": "S3_US_WEST_OREGON",
    "S3_EU_WEST_HOST": "S3_EU_WEST",
    "S3_AP_SOUTHEAST_HOST": "S3_AP_SOUTHEAST",
    "S3_AP_NORTHEAST_HOST": "S3_AP_NORTHEAST",
}
#: Default part size of streamed uploads. Small, because drivers regroup what they pull into
#: their own request sizes (S3: 5 MiB) and every part in flight costs memory.
DEFAULT_PART_SIZE = 1024 * 1024
#: The smallest part size accepted.
MIN_PART_SIZE = 64 * 1024
#: The longest file or directory name of a local filesystem (NAME_MAX), in bytes.
LOCAL_SEGMENT_BYTES = 255


@dataclass(frozen=True)
class DriverTraits:
    """What the storage must know about a driver class to use it well."""

    #: Writes go straight to the final file (LOCAL): an abandoned upload leaves a partial file.
    writes_in_place: bool
    #: ``download_object_range_as_stream`` streams (LOCAL's reads the whole file into memory).
    streams_ranges: bool
    #: The service filters listings by prefix (else the driver filters and warns; we filter).
    native_prefix: bool
    #: ``delete_object`` / ``get_object_cdn_url`` need only the container and the name.
    plain_objects: bool
    #: The longest segment of a key, in bytes (None: no limit known).
    segment_limit: int | None

    @classmethod
    def of(cls, driver_class: Any) -> DriverTraits:
        """Return the traits of ``driver_class``."""
        names = {klass.__name__ for klass in driver_class.__mro__}
        local = "LocalStorageDriver" in names
        base = require("libcloud.storage.base", "libcloud").StorageDriver
        ranged = driver_class.download_object_range_as_stream is not (
            base.download_object_range_as_stream
        )
        # Drivers without server-side filtering route every prefix listing through this helper
        # (a subclass may wrap the method: look at every class that defines it).
        client_side = any(
            "_filter_listed_container_objects" in _names_used(klass, "iterate_container_objects")
            for klass in driver_class.__mro__
        )
        return cls(
            writes_in_place=local,
            streams_ranges=ranged and not local,
            native_prefix=not client_side,
            plain_objects=local or "BaseS3StorageDriver" in names,
            segment_limit=LOCAL_SEGMENT_BYTES if local else None,
        )


def _names_used(klass: type, method: str) -> tuple[str, ...]:
    code = getattr(vars(klass).get(method), "__code__", None)
    return tuple(code.co_names) if code is not None else ()


def describe(exc: BaseException) -> str:
    """Return the message of a libcloud error (its ``str()`` is a repr naming the driver)."""
    value = getattr(exc, "value", None)
    if isinstance(value, str) and value:
        return value
    return str(exc) if not getattr(exc, "driver", None) else type(exc).__name__


def _constant(type_: str) -> str:
    module_path, _, attr = type_.rpartition(".")
    if module_path != PROVIDER_PATH:
        raise ValueError(f"the type must look like '{PROVIDER_PATH}.S3', not {type_!r}")
    if attr in LEGACY_CONSTANTS:
        new = LEGACY_CONSTANTS[attr]
        warnings.warn(
            f"{type_} is a libcloud 0.x constant; use '{PROVIDER_PATH}.{new}' (with a 'region' "
            "key for other regions).",
            DeprecationWarning,
            stacklevel=6,
        )
        attr = new
    provider = require("libcloud.storage.types", "libcloud").Provider
    value = getattr(provider, attr, None)
    if not isinstance(value, str):
        raise ValueError(f"libcloud has no storage provider {attr!r}")
    return value


def driver_class_for(type_: Any) -> type:
    """Return the libcloud driver class that a provider entry's ``type`` names."""
    base = require("libcloud.storage.base", "libcloud").StorageDriver
    if isinstance(type_, type):
        if not issubclass(type_, base):
            raise ValueError(f"{type_.__name__} is not a libcloud StorageDriver")
        return type_
    if not isinstance(type_, str):
        raise ValueError(f"the type must be a string, not {type_!r}")
    constant = _constant(type_) if "." in type_ else type_
    get_driver = require("libcloud.storage.providers", "libcloud").get_driver
    return get_driver(constant)  # type: ignore[no-any-return]


class LibCloudSettings(ObjectStore):
    """Declares the settings and builds drivers (the first layer of the Libcloud storage)."""

    providers = Setting(
        "LIBCLOUD_PROVIDERS",
        {},
        secret=True,
        doc="Provider entries by alias: type, user, key, bucket and driver keywords.",
    )
    provider_name = Setting(
        "DEFAULT_LIBCLOUD_PROVIDER", "default", doc="Alias of the provider this storage uses."
    )
    option = Setting(None, None, doc="Accepted for compatibility with django-storages; unused.")
    object_parameters = Setting(
        None, {}, doc="The driver's `extra` for every new object (e.g. meta_data, acl)."
    )
    base_url = Setting(
        None, None, doc="URL the container's root is served at, instead of the driver's URLs."
    )
    default_content_type = Setting(
        None, "application/octet-stream", doc="Content type when none can be guessed."
    )
    upload_part_size = Setting(
        None,
        DEFAULT_PART_SIZE,
        doc="Bytes handed to the driver at a time; bodies up to this size are one call.",
    )

    provider: dict[str, Any]
    bucket: str
    _driver_class: type
    _traits: DriverTraits
    _spare_driver: Any

    def _configure(self) -> None:
        super()._configure()
        self.provider = self._provider_entry()
        bucket = self.provider.get("bucket")
        if not bucket or not isinstance(bucket, str):
            raise ImproperlyConfigured(
                f"LIBCLOUD_PROVIDERS[{self.provider_name!r}] needs a 'bucket': the name of the "
                "container the files are kept in."
            )
        self.bucket = bucket
        try:
            self._driver_class = driver_class_for(self.provider.get("type"))
        except Exception as exc:
            raise self._driver_error(exc) from exc
        self._traits = DriverTraits.of(self._driver_class)
        self.object_parameters = dict(self.object_parameters or {})
        size = self.upload_part_size
        if not isinstance(size, int) or isinstance(size, bool) or size < MIN_PART_SIZE:
            raise ImproperlyConfigured(
                f"{self.setting_label('upload_part_size')} must be a number of bytes, at least "
                f"{MIN_PART_SIZE}, not {size!r}."
            )
        # Built now so a driver that cannot be created is reported when the storage is; the
        # first thread that connects takes it.
        self._spare_driver = self._build_driver()

    def _provider_entry(self) -> dict[str, Any]:
        providers = self.providers
        if not isinstance(providers, dict) or not providers:
            raise ImproperlyConfigured(
                "LibCloudStorage needs LIBCLOUD_PROVIDERS: a dict of provider entries by alias, "
                "e.g. {'default': {'type': 'libcloud.storage.types.Provider.S3', 'user': ..., "
                "'key': ..., 'bucket': ...}}."
            )
        alias = self.provider_name
        entry = providers.get(alias)
        if not isinstance(entry, dict):
            known = ", ".join(repr(name) for name in sorted(map(str, providers)))
            raise ImproperlyConfigured(
                f"LIBCLOUD_PROVIDERS has no provider {alias!r} (chosen by the storage's first "
                f"argument, its 'provider_name' option or DEFAULT_LIBCLOUD_PROVIDER); it "
                f"defines {known}."
            )
        if "type" not in entry:
            raise ImproperlyConfigured(
                f"LIBCLOUD_PROVIDERS[{alias!r}] needs a 'type', e.g. '{PROVIDER_PATH}.S3'."
            )
        return dict(entry)

    def _driver_error(self, exc: BaseException) -> ImproperlyConfigured:
        # The wording of the message the django-storages documentation shows.
        return ImproperlyConfigured(
            f"Unable to create libcloud driver type {self.provider.get('type')}: {describe(exc)}"
        )

    def _driver_options(self) -> dict[str, Any]:
        return {k: v for k, v in self.provider.items() if k not in OWN_KEYS}

    def _build_driver(self) -> Any:
        """Return a new driver for this storage's provider entry."""
        try:
            driver = self._driver_class(
                self.provider.get("user"), self.provider.get("key"), **self._driver_options()
            )
        except Exception as exc:
            raise self._driver_error(exc) from exc
        _bound_streamed_requests(driver)
        return driver

    def _extra_secrets(self) -> list[Any]:
        secrets = [self.provider.get("key")]
        secrets += [
            value
            for name, value in self._driver_options().items()
            if any(word in name.lower() for word in SECRET_WORDS)
        ]
        return [value for value in secrets if value]

    def _key_problem(self, key: str, writing: bool) -> str | None:
        problem = super()._key_problem(key, writing)
        limit = self._traits.segment_limit
        if problem is None and limit is not None and key:
            longest = max(len(segment.encode("utf-8")) for segment in key.split("/"))
            if longest > limit:
                return (
                    f"has a part {longest} bytes long; {self._driver_class.__name__} allows {limit}"
                )
        return problem


def _bound_streamed_requests(driver: Any) -> None:
    """Give the driver's streamed requests the timeout its other requests have.

    Libcloud sends streamed downloads and uploads (``raw=True``) with ``Session.send``, which
    applies no timeout, so a server that stops answering in the middle of one would block the
    caller forever; every other request gets the connection's ``timeout`` (60 s by default).
    """
    session = getattr(
        getattr(getattr(driver, "connection", None), "connection", None), "session", None
    )
    timeout = getattr(session, "timeout", None)
    if session is None or timeout is None:
        return
    send = session.send

    def send_with_timeout(request: Any, **kwargs: Any) -> Any:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = timeout
        return send(request, **kwargs)

    session.send = send_with_timeout
