"""Direct browser uploads (S3, Google Cloud Storage, Azure): grants, tokens, fields, widget.

``storage.direct_upload(name, max_size=...)`` returns what a browser sends to store one file
straight in the bucket; ``storage.confirm_direct_upload(token)`` checks what came back.
:class:`DirectUploadField` (a ``FileField``), its form field and widget do both for a model,
with the ``storages/direct-upload.js`` module uploading from the page with a progress bar.
See ``docs/direct-uploads.md``.
"""

from __future__ import annotations

from typing import Any

from storages.direct.grants import (
    SUPPORTING_BACKENDS,
    DirectUploadError,
    DirectUploads,
    content_type_allowed,
    read_token,
    sign_token,
    unsupported_message,
)

__all__ = [
    "SUPPORTING_BACKENDS",
    "DirectUploadError",
    "DirectUploadField",
    "DirectUploadFormField",
    "DirectUploadWidget",
    "DirectUploads",
    "confirm_direct_upload",
    "content_type_allowed",
    "direct_upload",
    "read_token",
    "sign_token",
    "supports_direct_uploads",
]


def supports_direct_uploads(storage: object) -> bool:
    """Return whether ``storage`` can hand out direct browser uploads."""
    return isinstance(storage, DirectUploads) and bool(storage.direct_protocols)


def direct_upload(storage: object, name: str, **options: Any) -> dict[str, Any]:
    """Return ``storage.direct_upload(name, **options)``, or raise ``NotImplementedError``
    naming the backends that support direct uploads."""
    if not supports_direct_uploads(storage):
        raise NotImplementedError(unsupported_message(storage))
    assert isinstance(storage, DirectUploads)
    return storage.direct_upload(name, **options)


def confirm_direct_upload(storage: object, token: str, **options: Any) -> str:
    """Return ``storage.confirm_direct_upload(token, **options)``, or raise
    ``NotImplementedError`` for a storage without direct uploads."""
    if not supports_direct_uploads(storage):
        raise NotImplementedError(unsupported_message(storage))
    assert isinstance(storage, DirectUploads)
    return storage.confirm_direct_upload(token, **options)


def __getattr__(name: str) -> Any:
    # The fields import Django's model and form machinery: only when they are asked for.
    if name in {"DirectUploadField", "DirectUploadFormField", "DirectUploadWidget"}:
        from storages.direct import fields

        return getattr(fields, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
