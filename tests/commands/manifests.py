"""Manifest static storages of the backends that have no such class of their own."""

from __future__ import annotations

from django.contrib.staticfiles.storage import ManifestFilesMixin

from storages.backends.azure_storage import AzureStorage
from storages.backends.gcloud import GoogleCloudStorage


class GoogleCloudStorageManifest(ManifestFilesMixin, GoogleCloudStorage):
    """Hashed static names from a manifest, on Google Cloud Storage."""

    # Plain URLs: a signed one changes every second, and the stylesheets that embed it with it,
    # so post-processing would never settle.
    querystring_auth = False


class AzureStorageManifest(ManifestFilesMixin, AzureStorage):
    """Hashed static names from a manifest, on Azure."""
