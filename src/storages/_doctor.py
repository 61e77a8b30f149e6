"""``manage.py storages check``: try each configured storage the way the site will use it.

For one ``STORAGES`` alias, with its configured credentials: create the storage, list it (the
bucket or container is reachable), store a small probe file, read it back, fetch the URL the
storage generates for it (and compare the service's clock with ours), delete it. Every failure
names the settings to look at. The effective settings are shown with where each value came
from, secrets masked.
"""

from __future__ import annotations

import email.utils
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.core.files.storage import storages

from storages.base import BaseStorage
from storages.errors import redact
from storages.settings import Source

__all__ = ["Finding", "Report", "diagnose"]

PROBE = b"django-stowage configuration check: safe to delete.\n"
#: Seconds to wait for the generated URL.
FETCH_TIMEOUT = 15
#: A clock further off than this breaks signed requests and URLs on most services.
MAX_CLOCK_SKEW = 300
#: Characters of a setting's value shown.
SHOWN_VALUE = 80
MASK = "********"

#: The settings to look at, by kind of failure (those a backend has are named).
CREDENTIALS = (
    "access_key",
    "secret_key",
    "security_token",
    "session_profile",
    "account_name",
    "account_key",
    "sas_token",
    "connection_string",
    "token_credential",
    "credentials",
    "oauth2_access_token",
    "app_key",
    "app_secret",
    "oauth2_refresh_token",
    "params",
    "ftp_location",
    "providers",
)
WHERE = (
    "bucket_name",
    "azure_container",
    "location",
    "root_path",
    "host",
    "ftp_location",
    "provider_name",
    "endpoint_url",
    "region_name",
    "client_options",
    "endpoint_suffix",
)
URLS = (
    "querystring_auth",
    "default_acl",
    "custom_domain",
    "url_protocol",
    "public_endpoint_url",
    "cloudfront_key_id",
    "expiration_secs",
    "expiration",
    "custom_endpoint",
    "iam_sign_blob",
    "sa_email",
    "base_url",
)
_SOURCES = {
    Source.KEYWORD: "STORAGES OPTIONS",
    Source.CLASS: "class attribute",
    Source.DJANGO: "Django setting",
    Source.ENV: "environment",
    Source.DEFAULT: "default",
}


@dataclass
class Finding:
    """One step's outcome: ``status`` is "ok", "FAIL", "warn" or "skip"."""

    status: str
    step: str
    detail: str
    fix: str = ""


@dataclass
class Report:
    """Everything found about one alias."""

    alias: str
    backend: str
    findings: list[Finding] = field(default_factory=list)
    settings: list[tuple[str, str, str, str]] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        """Return whether any step failed."""
        return any(f.status == "FAIL" for f in self.findings)

    def add(self, status: str, step: str, detail: str, fix: str = "") -> None:
        """Record one step's outcome."""
        self.findings.append(Finding(status, step, detail, fix))


def _fix(storage: Any, attrs: Iterable[str]) -> str:
    specs = getattr(type(storage), "_setting_specs", {})
    labels = [storage.setting_label(a) for a in dict.fromkeys(attrs) if a in specs]
    return "check " + ", ".join(labels) if labels else ""


def _describe(storage: Any, exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    secrets = storage._secret_values() if isinstance(storage, BaseStorage) else []
    return redact(text, secrets)


def _fix_for(storage: Any, exc: BaseException, where: tuple[str, ...]) -> str:
    if isinstance(exc, ImproperlyConfigured):
        return "the message above names the setting"
    if isinstance(exc, PermissionError):
        return _fix(storage, CREDENTIALS)
    return _fix(storage, where)


def diagnose(alias: str, *, write: bool = True) -> Report:
    """Check the storage configured as ``STORAGES[alias]`` and return what was found."""
    entry = settings.STORAGES[alias]
    report = Report(alias, str(entry.get("BACKEND")))
    try:
        storage = storages.create_storage(entry)
    except Exception as exc:
        report.add("FAIL", "configuration", f"{type(exc).__name__}: {exc}", _creation_fix(exc))
        return report
    try:
        report.add("ok", "configuration", f"{type(storage).__name__} created")
        if isinstance(storage, BaseStorage):
            report.settings = effective_settings(storage)
        if _reachable(storage, report) and write:
            _probe(storage, report)
        elif not write:
            report.add("skip", "write", "not tried (--no-write)")
    finally:
        if isinstance(storage, BaseStorage):
            storage.close()
    return report


def _creation_fix(exc: BaseException) -> str:
    if isinstance(exc, ImportError):
        return "install the backend's extra (pip install django-stowage[...]) or fix BACKEND"
    return "the message names the setting" if isinstance(exc, ImproperlyConfigured) else ""


def _reachable(storage: Any, report: Report) -> bool:
    try:
        if isinstance(storage, BaseStorage):
            next(iter(storage.scan()), None)  # one listing request
        else:
            storage.listdir("")
    except Exception as exc:
        report.add("FAIL", "reachable", _describe(storage, exc), _fix_for(storage, exc, WHERE))
        return False
    report.add("ok", "reachable", "listed the storage's root")
    return True


def _probe(storage: Any, report: Report) -> None:
    name = f"stowage-check-{uuid.uuid4().hex[:12]}.txt"
    try:
        name = storage.save(name, ContentFile(PROBE, name=name))
    except Exception as exc:
        fix = _fix_for(storage, exc, ("location", "root_path", "object_parameters", "default_acl"))
        report.add("FAIL", "write", _describe(storage, exc), fix)
        return
    report.add("ok", "write", f"stored {name} ({len(PROBE)} bytes)")
    try:
        with storage.open(name, "rb") as handle:
            data = handle.read()
        if data == PROBE:
            report.add("ok", "read", "the same bytes came back")
        else:
            report.add("FAIL", "read", f"got {len(data)} bytes that differ from those stored")
    except Exception as exc:
        report.add("FAIL", "read", _describe(storage, exc), _fix_for(storage, exc, CREDENTIALS))
    _fetch_url(storage, name, report)
    try:
        storage.delete(name)
        if storage.exists(name):
            report.add("FAIL", "delete", f"{name} is still there after delete()")
        else:
            report.add("ok", "delete", f"{name} is gone")
    except Exception as exc:
        report.add("FAIL", "delete", _describe(storage, exc), _fix_for(storage, exc, CREDENTIALS))


def _fetch_url(storage: Any, name: str, report: Report) -> None:
    try:
        url = storage.url(name)
    except (NotImplementedError, ImproperlyConfigured) as exc:
        report.add("skip", "url", f"no URL: {exc}")
        return
    except Exception as exc:
        report.add("FAIL", "url", _describe(storage, exc), _fix(storage, URLS))
        return
    shown = url.split("?", 1)[0]
    if not url.startswith(("http://", "https://")):
        report.add("skip", "url", f"{shown} is relative: your web server serves it")
        return
    try:
        with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT) as response:
            body = response.read()
            date = response.headers.get("Date")
    except urllib.error.HTTPError as exc:
        detail = f"GET {shown} answered HTTP {exc.code}"
        report.add("FAIL", "url", detail, _fix(storage, URLS))
        return
    except OSError as exc:
        report.add("FAIL", "url", f"GET {shown} failed: {exc}", _fix(storage, URLS))
        return
    if body == PROBE:
        report.add("ok", "url", f"fetched {shown}")
    else:
        report.add("FAIL", "url", f"GET {shown} returned other bytes", _fix(storage, URLS))
    _clock(date, report)


def _clock(date: str | None, report: Report) -> None:
    if not date:
        return
    try:
        service = email.utils.parsedate_to_datetime(date).timestamp()
    except (TypeError, ValueError):
        return
    skew = service - time.time()
    if abs(skew) > MAX_CLOCK_SKEW:
        report.add(
            "FAIL",
            "clock",
            f"this machine's clock is {abs(skew):.0f} s {'behind' if skew > 0 else 'ahead of'} "
            "the service's: signed requests and URLs will be refused",
            "synchronize the clock (NTP)",
        )
    else:
        report.add("ok", "clock", f"within {abs(skew):.0f} s of the service's")


def effective_settings(storage: BaseStorage) -> list[tuple[str, str, str, str]]:
    """Return ``(attribute, Django setting, value, source)`` of every setting, secrets masked
    (deprecated settings only when they are set)."""
    secrets = storage._secret_values()
    rows = []
    for attr, spec in sorted(type(storage)._setting_specs.items()):
        if spec.deprecated and storage.setting_source(attr) == Source.DEFAULT:
            continue
        value = storage.__dict__.get(attr, getattr(storage, attr, None))
        if spec.secret:
            shown = MASK if value else repr(value)
        else:
            shown = redact(repr(value), secrets)
            if len(shown) > SHOWN_VALUE:
                shown = shown[: SHOWN_VALUE - 3] + "..."
        source = _SOURCES.get(storage.setting_source(attr), storage.setting_source(attr))
        if spec.deprecated:
            source += ", deprecated"
        rows.append((attr, spec.name or "", shown, source))
    return rows
