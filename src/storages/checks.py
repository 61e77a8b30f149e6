"""System checks: legacy storage settings Django no longer reads, and misspelled settings."""

from __future__ import annotations

import difflib
from typing import Any

import django
from django.conf import settings
from django.core import checks

__all__ = [
    "check_legacy_storage_settings",
    "check_public_acls",
    "check_setting_typos",
    "register_all",
]

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


def register_all() -> None:
    """Register every check of this module with Django."""
    checks.register(check_legacy_storage_settings, checks.Tags.compatibility)
    checks.register(check_setting_typos, checks.Tags.compatibility)
    checks.register(check_public_acls, checks.Tags.security)
