"""Building django-storages' storages in the peer process from JSON options.

The options are the ones our storages take (we keep django-storages' names), made JSON-safe by
the parent; the few that cannot travel as JSON are rebuilt here:

* ``credentials_info`` (Google Cloud Storage): a service account's key, made into credentials
  holding a token valid for a day (so the SDK never asks Google's token endpoint for one; the
  emulator takes any token) that never look up an access boundary (google-auth would ask
  Google's IAM service). django-storages has no option for the API endpoint, so the parent
  points the SDK at the emulator with the ``STORAGE_EMULATOR_HOST`` variable instead.
* ``provider_name`` (Libcloud): the first positional argument; the providers themselves are
  the ``LIBCLOUD_PROVIDERS`` setting.
* ``ftp_password`` (FTP): django-storages reads the password out of ``location`` without
  percent-decoding it, so a password with ``@``, ``:`` or ``/`` (the test server's has all
  three) cannot be written there; the location carries a stand-in and this replaces it once
  the location is parsed.
"""

from __future__ import annotations

import importlib
from datetime import datetime, timedelta, timezone
from typing import Any

__all__ = ["CLASSES", "build", "options_for"]

#: What the credentials of the Google Cloud Storage peer may do.
GCS_SCOPES = ("https://www.googleapis.com/auth/devstorage.full_control",)

#: Each backend's storage class in django-storages.
CLASSES = {
    "s3": "storages.backends.s3.S3Storage",
    "azure": "storages.backends.azure_storage.AzureStorage",
    "gcloud": "storages.backends.gcloud.GoogleCloudStorage",
    "sftp": "storages.backends.sftpstorage.SFTPStorage",
    "ftp": "storages.backends.ftp.FTPStorage",
    "dropbox": "storages.backends.dropbox.DropboxStorage",
    "libcloud": "storages.backends.apache_libcloud.LibCloudStorage",
}


def load(dotted: str) -> Any:
    """Return the object a dotted path names."""
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


def options_for(options: dict[str, Any]) -> dict[str, Any]:
    """Return storage keyword arguments for JSON ``options``."""
    result = dict(options)
    info = result.pop("credentials_info", None)
    if info is not None:
        result["credentials"] = _offline_credentials(info)
    return result


def _offline_credentials(info: dict[str, str]) -> Any:
    from google.oauth2 import service_account

    class Offline(service_account.Credentials):  # type: ignore[misc]
        def _is_regional_access_boundary_lookup_required(self) -> bool:
            return False

    credentials = Offline.from_service_account_info(info, scopes=list(GCS_SCOPES))
    credentials.token = "benchmark-token"
    # google-auth keeps expiry times as naive UTC.
    credentials.expiry = (datetime.now(timezone.utc) + timedelta(days=1)).replace(tzinfo=None)
    return credentials


def build(backend: str, options: dict[str, Any], dotted: str | None = None) -> Any:
    """Return a django-storages storage of ``backend`` (or of class ``dotted``)."""
    cls = load(dotted or CLASSES[backend])
    kwargs = options_for(options)
    password = kwargs.pop("ftp_password", None)
    if "provider_name" in kwargs:
        return cls(kwargs.pop("provider_name"), **kwargs)
    storage = cls(**kwargs)
    if password is not None:
        storage._config["passwd"] = password
    return storage
