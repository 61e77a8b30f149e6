"""System check ``storages.W006``: certificate or host key verification off, or plain text.

Each configured storage (``STORAGES`` entries whose backend is one of ours) is checked with the
values it would resolve (its ``OPTIONS``, a subclass attribute, the Django setting, the
environment, the default) without being created. Loopback endpoints (a local emulator) are
exempt from the plain-text rules. Secrets are never printed, only the setting that holds them.
"""

from __future__ import annotations

import inspect
import ssl
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from django.core import checks

from storages.settings import Setting

__all__ = ["check_transport_security", "effective_value"]

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
#: SFTP host key policies that accept a key never seen before.
_TRUSTING_POLICIES = frozenset({"add", "warn", "autoadd", "autoaddpolicy", "warningpolicy"})

_UNVERIFIED = "certificate verification is off: anyone on the network path can pose as the service"
_PLAIN = "credentials and files travel unencrypted"


def effective_value(cls: type[Any], options: dict[str, Any], attr: str) -> tuple[Any, str]:
    """Return the value setting ``attr`` of ``cls`` would take with ``options``, and where to
    change it (the option, or the Django setting)."""
    for keyword, target in cls._keyword_map.items():
        if target == attr and keyword in options:
            return options[keyword], f'["OPTIONS"][{keyword!r}]'
    spec: Setting = cls._setting_specs[attr]
    where = spec.name or f'["OPTIONS"][{attr!r}]'
    static = inspect.getattr_static(cls, attr, None)
    if not isinstance(static, Setting):
        return (None if hasattr(static, "__get__") else static), f"{cls.__name__}.{attr}"
    return spec.lookup(warn=False)[0], where


def _is_plain_http(url: Any) -> bool:
    if not isinstance(url, str) or "//" not in url:
        return False
    parts = urlsplit(url)
    return parts.scheme == "http" and (parts.hostname or "") not in LOOPBACK_HOSTS


def _verify(value: Any, get: Callable[[str], Any]) -> str | None:
    return _UNVERIFIED if value is False else None


def _use_ssl(value: Any, get: Callable[[str], Any]) -> str | None:
    if value is not False:
        return None
    endpoint = get("endpoint_url")
    host = urlsplit(endpoint).hostname if isinstance(endpoint, str) else None
    return None if host in LOOPBACK_HOSTS else f"TLS is off: {_PLAIN}"


def _endpoint(value: Any, get: Callable[[str], Any]) -> str | None:
    return f"the endpoint is plain http://: {_PLAIN}" if _is_plain_http(value) else None


def _azure_ssl(value: Any, get: Callable[[str], Any]) -> str | None:
    if value is False and not get("is_emulated") and not get("connection_string"):
        return f"TLS is off (http:// endpoints): {_PLAIN}"
    return None


def _connection_string(value: Any, get: Callable[[str], Any]) -> str | None:
    if not isinstance(value, str):
        return None
    fields = dict(part.split("=", 1) for part in value.split(";") if "=" in part and part.strip())
    endpoint = fields.get("BlobEndpoint", "")
    plain = fields.get("DefaultEndpointsProtocol", "").lower() == "http" and not endpoint
    if plain or _is_plain_http(endpoint):
        return f"the connection string uses http://: {_PLAIN}"
    return None


def _client_options(value: Any, get: Callable[[str], Any]) -> str | None:
    endpoint = value.get("api_endpoint") if isinstance(value, dict) else None
    return f"the api_endpoint is plain http://: {_PLAIN}" if _is_plain_http(endpoint) else None


def _host_key_policy(value: Any, get: Callable[[str], Any]) -> str | None:
    name = value if isinstance(value, str) else getattr(value, "__name__", type(value).__name__)
    if str(name).replace("_", "").lower() in _TRUSTING_POLICIES:
        return "unknown SSH host keys are accepted: the first server to answer is trusted"
    return None


def _ftp_location(value: Any, get: Callable[[str], Any]) -> str | None:
    if not isinstance(value, str) or "//" not in value:
        return None
    parts = urlsplit(value)
    if parts.scheme in ("ftp", "aftp") and (parts.hostname or "") not in LOOPBACK_HOSTS:
        return f"the location is ftp:// (not ftps://): {_PLAIN}"
    return None


def _ssl_context(value: Any, get: Callable[[str], Any]) -> str | None:
    if isinstance(value, ssl.SSLContext) and (
        value.verify_mode == ssl.CERT_NONE or not value.check_hostname
    ):
        return _UNVERIFIED
    return None


def _providers(value: Any, get: Callable[[str], Any]) -> str | None:
    if isinstance(value, dict) and any(
        isinstance(entry, dict) and entry.get("secure") is False for entry in value.values()
    ):
        return f"a provider has 'secure': False: {_PLAIN}"
    return None


#: The rule for each setting attribute (any backend that has it).
RULES: dict[str, tuple[Callable[[Any, Callable[[str], Any]], str | None], str]] = {
    "verify": (_verify, "Remove it, or point it at the CA bundle that signs the certificate."),
    "use_ssl": (_use_ssl, "Remove it: TLS is the default."),
    "endpoint_url": (_endpoint, "Use the service's https:// endpoint."),
    "azure_ssl": (_azure_ssl, "Remove it: https is the default."),
    "connection_string": (_connection_string, "Use DefaultEndpointsProtocol=https."),
    "client_options": (_client_options, "Use the service's https:// endpoint."),
    "host_key_policy": (_host_key_policy, "Use 'reject' with a known_hosts file (the default)."),
    "ftp_location": (_ftp_location, "Use an ftps:// location if the server offers TLS."),
    "ssl_context": (_ssl_context, "Keep verify_mode CERT_REQUIRED and check_hostname on."),
    "providers": (_providers, "Remove 'secure': False."),
}


def check_transport_security(**_: Any) -> list[checks.CheckMessage]:
    """Warn when a configured storage verifies no certificate or host key, or talks in clear."""
    from storages.checks import configured_storages

    messages: list[checks.CheckMessage] = []
    for alias, cls, options in configured_storages():

        def get(attr: str, cls: type[Any] = cls, options: dict[str, Any] = options) -> Any:
            if attr not in cls._setting_specs:
                return None
            return effective_value(cls, options, attr)[0]

        for attr, (rule, hint) in RULES.items():
            if attr not in cls._setting_specs:
                continue
            value, where = effective_value(cls, options, attr)
            problem = rule(value, get)
            if problem is None:
                continue
            place = f'STORAGES["{alias}"]{where}' if where.startswith("[") else where
            messages.append(
                checks.Warning(
                    f'{place} (storage "{alias}", {cls.__name__}): {problem}.',
                    hint=hint,
                    id="storages.W006",
                )
            )
    return messages
