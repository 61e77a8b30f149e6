"""What a storage without direct browser uploads answers (see :mod:`storages.direct`).

Kept apart from :mod:`storages.direct` so the core needs none of its form and model machinery.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "DEFAULT_CONFIRM_MAX_AGE",
    "DEFAULT_MULTIPART_THRESHOLD",
    "SUPPORTING_BACKENDS",
    "NoDirectUploads",
    "unsupported_message",
]

#: How long after the grant a token is still accepted by default: the upload must start before
#: the grant expires, but the form around it may be submitted a while later.
DEFAULT_CONFIRM_MAX_AGE = 6 * 3600
#: Files above this size go in parts (S3 multipart, Azure blocks, GCS resumable chunks).
DEFAULT_MULTIPART_THRESHOLD = 16 * 1024 * 1024

#: The backends that implement direct uploads, for the error message of the others.
SUPPORTING_BACKENDS = (
    "storages.backends.s3.S3Storage",
    "storages.backends.gcloud.GoogleCloudStorage",
    "storages.backends.azure_storage.AzureStorage",
)


def unsupported_message(storage: object) -> str:
    """Return the error message for a storage without direct uploads."""
    return (
        f"{type(storage).__name__} does not support direct browser uploads; they work with "
        f"{', '.join(SUPPORTING_BACKENDS)}."
    )


class NoDirectUploads:
    """The direct-upload methods of every storage, for backends whose service cannot take a
    browser's upload: each raises ``NotImplementedError`` naming the backends that can."""

    def direct_upload(
        self,
        name: str,
        *,
        max_size: int,
        content_types: str | Sequence[str] | None = None,
        content_type: str | None = None,
        size: int | None = None,
        expires: int | None = None,
        multipart_threshold: int = DEFAULT_MULTIPART_THRESHOLD,
        scope: str = "",
        origin: str | None = None,
        max_length: int | None = None,
    ) -> dict[str, Any]:
        """Refuse: this backend cannot hand a browser an upload of its own."""
        raise NotImplementedError(unsupported_message(self))

    def confirm_direct_upload(
        self, token: str, *, scope: str = "", max_age: float | None = DEFAULT_CONFIRM_MAX_AGE
    ) -> str:
        """Refuse: this backend never handed out an upload to confirm."""
        raise NotImplementedError(unsupported_message(self))
