"""System checks: what can be told about the storage settings without the network.

* ``storages.W001`` legacy ``DEFAULT_FILE_STORAGE`` / ``STATICFILES_STORAGE`` on a Django that
  ignores them (with the ``STORAGES`` equivalent);
* ``storages.W002`` a setting named like a storage setting of any backend but matching none;
* ``storages.W003`` a public canned ACL for new files;
* ``storages.W004`` ``"storages"`` listed after ``"django.contrib.staticfiles"``, so
  ``collectstatic`` is Django's own command, not the accelerated one;
* ``storages.W005`` a ``STORAGES[...]["OPTIONS"]`` key the backend does not accept;
* ``storages.W006`` TLS (or SSH host key) verification off, or credentials sent in clear
  (see :mod:`storages._security_checks`).
"""

from __future__ import annotations

import difflib
import importlib
from typing import Any

import django
from django.conf import settings
from django.core import checks
from django.utils.module_loading import import_string

__all__ = [
    "BACKEND_MODULES",
    "check_app_order",
    "check_legacy_storage_settings",
    "check_public_acls",
    "check_setting_typos",
    "check_storage_options",
    "configured_storages",
    "register_all",
]

#: Every backend module: imported by the checks so that every backend's settings are known
#: (importing them imports no SDK).
BACKEND_MODULES = (
    "storages.backends.s3",
    "storages.backends.azure_storage",
    "storages.backends.gcloud",
    "storages.backends.dropbox",
    "storages.backends.ftp",
    "storages.backends.sftpstorage",
    "storages.backends.apache_libcloud",
)

_LEGACY = {"DEFAULT_FILE_STORAGE": "default", "STATICFILES_STORAGE": "staticfiles"}


def check_legacy_storage_settings(**_: Any) -> list[checks.CheckMessage]:
    """Warn when DEFAULT_FILE_STORAGE/STATICFILES_STORAGE are set on a Django that ignores them."""
    if django.VERSION < (5, 1):
        return []
    found = []
    for name, alias in _LEGACY.items():
        value = getattr(settings, name, None)
        if value:
            found.append(
                checks.Warning(
                    f"{name} is ignored since Django 5.1.",
                    hint=f'Use STORAGES = {{"{alias}": {{"BACKEND": "{value}"}}, ...}} instead.',
                    id="storages.W001",
                )
            )
    return found


def _known_names() -> set[str]:
    from storages.base import BaseStorage

    for module in BACKEND_MODULES:
        importlib.import_module(module)
    known: set[str] = set()
    pending = list(BaseStorage.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        for spec in cls._setting_specs.values():
            known.update(spec.global_names)
    return known


def check_setting_typos(**_: Any) -> list[checks.CheckMessage]:
    """Warn about settings that look like a storage setting but match none (likely typos)."""
    known = _known_names()
    if not known:
        return []
    prefixes = tuple({name.split("_", 1)[0] + "_" for name in known})
    messages = []
    for name in dir(settings):
        if not name.startswith(prefixes) or name in known:
            continue
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.85)
        if close:
            messages.append(
                checks.Warning(
                    f"The setting {name} is not read by any storage backend.",
                    hint=f"Did you mean {close[0]}?",
                    id="storages.W002",
                )
            )
    return messages


_PUBLIC_ACLS = {"public-read", "public-read-write", "publicread", "publicreadwrite"}


def _is_public(acl: object) -> bool:
    return isinstance(acl, str) and acl.replace("_", "-").lower() in _PUBLIC_ACLS


def check_public_acls(**_: Any) -> list[checks.CheckMessage]:
    """Warn when new files would be readable by anyone (a public canned ACL)."""
    found: list[tuple[str, object]] = []
    for name in ("AWS_DEFAULT_ACL", "AWS_BUCKET_ACL", "GS_DEFAULT_ACL"):
        value = getattr(settings, name, None)
        if _is_public(value):
            found.append((name, value))
    params = getattr(settings, "AWS_S3_OBJECT_PARAMETERS", None) or {}
    if isinstance(params, dict) and _is_public(params.get("ACL")):
        found.append(("AWS_S3_OBJECT_PARAMETERS['ACL']", params["ACL"]))
    for alias, entry in (getattr(settings, "STORAGES", None) or {}).items():
        options = entry.get("OPTIONS", {}) if isinstance(entry, dict) else {}
        for key in ("default_acl", "bucket_acl"):
            if _is_public(options.get(key)):
                found.append((f'STORAGES["{alias}"]["OPTIONS"]["{key}"]', options[key]))
        params = options.get("object_parameters") or {}
        if isinstance(params, dict) and _is_public(params.get("ACL")):
            found.append(
                (f'STORAGES["{alias}"]["OPTIONS"]["object_parameters"]["ACL"]', params["ACL"])
            )
    return [
        checks.Warning(
            f"{where} is {value!r}: every file stored will be readable by anyone with its URL.",
            hint="Remove it to keep the bucket's own (private) policy, unless these files are "
            "meant to be public.",
            id="storages.W003",
        )
        for where, value in found
    ]


def configured_storages() -> list[tuple[str, type[Any], dict[str, Any]]]:
    """Return ``(alias, class, options)`` of every ``STORAGES`` entry whose backend is one of
    this package's storages (entries that fail to import are left to Django)."""
    from storages.base import BaseStorage

    found = []
    for alias, entry in (getattr(settings, "STORAGES", None) or {}).items():
        if not isinstance(entry, dict) or not isinstance(entry.get("BACKEND"), str):
            continue
        try:
            cls = import_string(entry["BACKEND"])
        except ImportError:
            continue
        if isinstance(cls, type) and issubclass(cls, BaseStorage):
            options = entry.get("OPTIONS") or {}
            found.append((str(alias), cls, dict(options) if isinstance(options, dict) else {}))
    return found


def check_app_order(app_configs: Any = None, **_: Any) -> list[checks.CheckMessage]:
    """Warn when Django's collectstatic shadows ours (``storages`` after ``staticfiles``)."""
    apps = [str(app) for app in getattr(settings, "INSTALLED_APPS", ())]
    ours = next((i for i, app in enumerate(apps) if app.split(".apps.")[0] == "storages"), None)
    static = next(
        (i for i, app in enumerate(apps) if app.startswith("django.contrib.staticfiles")), None
    )
    if ours is None or static is None or ours < static:
        return []
    if not any(alias == "staticfiles" for alias, _cls, _options in configured_storages()):
        return []
    return [
        checks.Warning(
            '"storages" comes after "django.contrib.staticfiles" in INSTALLED_APPS, so '
            "collectstatic is Django's own command: a request or two per file, and every "
            "file that looks newer uploaded again.",
            hint='List "storages" before "django.contrib.staticfiles" to get the accelerated '
            "collectstatic (one listing, unchanged files skipped, parallel uploads).",
            id="storages.W004",
        )
    ]


def check_storage_options(**_: Any) -> list[checks.CheckMessage]:
    """Warn about ``STORAGES`` options a backend does not accept (likely typos)."""
    messages = []
    for alias, cls, options in configured_storages():
        valid = sorted(cls._keyword_map)
        # Suggest current names only: a deprecated option is never the better spelling.
        current = [k for k in valid if not cls._setting_specs[cls._keyword_map[k]].deprecated]
        for key in sorted(set(options) - set(valid), key=str):
            text = str(key)
            close = [k for k in current if k.startswith(text) or text.startswith(k)]
            close = close or difflib.get_close_matches(text, current, n=3, cutoff=0.75)
            if close:
                hint = f"Did you mean {' or '.join(repr(k) for k in close[:3])}?"
            else:
                hint = f"Valid options: {', '.join(valid)}."
            messages.append(
                checks.Warning(
                    f'STORAGES["{alias}"]["OPTIONS"] has {key!r}, which {cls.__name__} does '
                    "not accept (creating the storage will fail).",
                    hint=hint,
                    id="storages.W005",
                )
            )
    return messages


def register_all() -> None:
    """Register every check of this module with Django."""
    from storages._security_checks import check_transport_security

    checks.register(check_legacy_storage_settings, checks.Tags.compatibility)
    checks.register(check_setting_typos, checks.Tags.compatibility)
    checks.register(check_app_order, checks.Tags.staticfiles)
    checks.register(check_storage_options, checks.Tags.compatibility)
    checks.register(check_public_acls, checks.Tags.security)
    checks.register(check_transport_security, checks.Tags.security)
