"""System checks: legacy storage settings Django no longer reads, and misspelled settings."""

from __future__ import annotations

import difflib
from typing import Any

import django
from django.conf import settings
from django.core import checks

__all__ = ["check_legacy_storage_settings", "check_setting_typos", "register_all"]

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


def register_all() -> None:
    """Register every check of this module with Django."""
    checks.register(check_legacy_storage_settings, checks.Tags.compatibility)
    checks.register(check_setting_typos, checks.Tags.compatibility)
