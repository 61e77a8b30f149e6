"""The grant view: the widget asks it for a grant for one file of one model field."""

from __future__ import annotations

import json
import posixpath
from typing import Any

from django.apps import apps
from django.core import signing
from django.core.exceptions import FieldDoesNotExist, SuspiciousFileOperation
from django.http import HttpRequest, JsonResponse

from storages.direct.fields import DirectUploadField, read_field_ref
from storages.direct.grants import DirectUploadError

__all__ = ["grant_view"]

#: Longest accepted file name from the browser (only its last part is kept).
MAX_FILENAME = 1024


def _error(message: str, code: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": message, "code": code}, status=status)


def _field(ref: str) -> DirectUploadField:
    scope = read_field_ref(ref)
    label, _, field_name = scope.rpartition(".")
    model = apps.get_model(label)
    field = model._meta.get_field(field_name)
    if not isinstance(field, DirectUploadField):
        raise LookupError(f"{scope} is not a DirectUploadField")
    return field


def grant_view(request: HttpRequest) -> JsonResponse:
    """Return a grant (JSON) for the file the widget describes: field, filename, size, type.

    CSRF-protected like any POST view; wrap it (``login_required``, a permission check) when
    only some users may upload.
    """
    if request.method != "POST":
        return _error("Ask for a grant with POST.", "method", 405)
    try:
        body: Any = json.loads(request.body or b"{}")
        ref, filename = str(body["field"]), str(body["filename"])[:MAX_FILENAME]
        size = int(body["size"])
        content_type = str(body.get("content_type") or "") or None
    except (ValueError, KeyError, TypeError):
        return _error("Send JSON with field, filename, size and content_type.", "bad_request")
    try:
        field = _field(ref)
    except (signing.BadSignature, LookupError, FieldDoesNotExist):
        return _error("This form has expired: reload the page and try again.", "bad_field")
    # Only the browser's file name is used, never its directories: the field decides those.
    base = posixpath.basename(filename.replace("\\", "/")) or "upload"
    storage = field.storage
    if not callable(getattr(storage, "direct_upload", None)):
        return _error(f"{type(storage).__name__} cannot take direct uploads.", "unsupported", 501)
    try:
        name = field.generate_filename(None, base)
        grant = storage.direct_upload(
            name,
            max_size=field.max_size,
            content_types=field.content_types,
            content_type=content_type,
            size=size,
            expires=field.expires,
            scope=field.direct_scope,
            origin=request.headers.get("Origin"),
            max_length=field.max_length,
        )
    except DirectUploadError as exc:
        return _error(str(exc), exc.code)
    except (SuspiciousFileOperation, ValueError) as exc:
        return _error(f"This file name cannot be stored: {exc}", "bad_name")
    return JsonResponse(grant)
