"""Direct browser uploads: the grant a storage hands out, the token it signs, the checks on return.

A *grant* is what a browser needs to send one file straight to the service, for a name the
storage chose, within a size limit, with an allowed content type, before an expiry. It comes
with a *token*, signed with :mod:`django.core.signing`, that names the key: the browser sends
back only the token, and :meth:`DirectUploads.confirm_direct_upload` checks its signature and
age, finishes the upload where the protocol needs a server step (S3 multipart), then checks that
the object exists under exactly that key with an allowed size and content type. An object that
fails a check is deleted. Services differ in what they enforce themselves (see
``docs/direct-uploads.md``); these checks run on every backend, so none depends on it.
"""

from __future__ import annotations

import fnmatch
import mimetypes
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from django.core import signing
from django.core.exceptions import ImproperlyConfigured

from storages import names
from storages._direct_default import (
    DEFAULT_CONFIRM_MAX_AGE,
    DEFAULT_MULTIPART_THRESHOLD,
    SUPPORTING_BACKENDS,
    unsupported_message,
)
from storages._object_store import DEFAULT_CONTENT_TYPE, ObjectStore
from storages.errors import NotFound
from storages.objects import ObjectInfo

__all__ = [
    "SUPPORTING_BACKENDS",
    "DirectUploadError",
    "DirectUploadRequest",
    "DirectUploads",
    "content_type_allowed",
    "normalize_content_types",
    "parameter_fields",
    "read_token",
    "sign_token",
    "unsupported_message",
]

#: The salt of upload tokens; a scope (the field's label) is appended so a token made for one
#: field is refused by another.
TOKEN_SALT = "storages.direct.upload"
#: Grants expire this many seconds after they are made unless the caller says otherwise.
DEFAULT_EXPIRES = 15 * 60
#: The longest grant any of the services signs (SigV4 and GCS V4 URLs: 7 days).
MAX_EXPIRES = 7 * 24 * 3600


class DirectUploadError(ValueError):
    """A direct upload was refused: a bad request for a grant, or a token or object that fails
    a check. ``code`` names the reason (``too_large``, ``content_type``, ``bad_token``,
    ``expired``, ``missing``, ``scope``)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


def normalize_content_types(content_types: str | Sequence[str] | None) -> list[str] | None:
    """Return the allowed content types as a list of lowercase patterns (None: any type)."""
    if content_types is None:
        return None
    if isinstance(content_types, str):
        content_types = [content_types]
    patterns = [str(pattern).strip().lower() for pattern in content_types]
    if not patterns or not all(patterns):
        raise ValueError("content_types must name at least one type, e.g. 'image/*'")
    return patterns


def _bare(content_type: str | None) -> str:
    # "text/plain; charset=utf-8" is a text/plain for the allow list.
    return (content_type or "").split(";", 1)[0].strip().lower()


def content_type_allowed(content_type: str | None, patterns: Sequence[str] | None) -> bool:
    """Return whether ``content_type`` matches one of ``patterns`` (``image/*`` style)."""
    if patterns is None:
        return True
    bare = _bare(content_type)
    return bool(bare) and any(fnmatch.fnmatchcase(bare, pattern) for pattern in patterns)


def sign_token(payload: dict[str, Any], scope: str = "") -> str:
    """Return ``payload`` signed (with a timestamp) for the upload scope ``scope``."""
    return str(signing.dumps(payload, salt=f"{TOKEN_SALT}:{scope}", compress=True))


def read_token(token: str, scope: str = "", max_age: float | None = None) -> dict[str, Any]:
    """Return the payload of a token made by :func:`sign_token`, or raise
    :class:`DirectUploadError` when it was altered, made for another scope, or is too old."""
    try:
        payload = signing.loads(str(token), salt=f"{TOKEN_SALT}:{scope}", max_age=max_age)
    except signing.SignatureExpired as exc:
        raise DirectUploadError(
            "The upload token has expired: upload the file again.", "expired"
        ) from exc
    except signing.BadSignature as exc:
        raise DirectUploadError(
            "The upload token is not valid (altered, or made for another field).", "bad_token"
        ) from exc
    if not isinstance(payload, dict):
        raise DirectUploadError("The upload token is not valid.", "bad_token")
    return payload


@dataclass
class DirectUploadRequest:
    """One grant being made: everything a backend needs to build its part of the answer."""

    name: str
    key: str
    max_size: int
    content_type: str
    content_types: list[str] | None
    size: int | None
    expires: int
    multipart_threshold: int
    origin: str | None = None

    @property
    def multipart(self) -> bool:
        """Whether the file is large enough to go in parts."""
        return self.size is not None and self.size > self.multipart_threshold


class DirectUploads(ObjectStore):
    """What every storage with direct browser uploads shares; a backend adds
    :meth:`_direct_grant` (and :meth:`_finish_direct_upload` when its protocol has a server
    step)."""

    #: The protocol names this backend answers with (documentation and tests).
    direct_protocols: ClassVar[tuple[str, ...]] = ()

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
        """Return what a browser must send to upload one file straight to the service.

        The file is stored under a free name the storage derives from ``name`` (under
        ``location``, with a random suffix, never a key the browser picks). ``content_type`` is
        the type the browser declared (guessed from the name when None) and must match
        ``content_types``; ``size``, when known, must not exceed ``max_size`` and decides
        whether the file goes in parts (above ``multipart_threshold``). ``origin`` is the page's
        origin, for services that bind CORS to an upload session. The answer is JSON-ready;
        its ``token`` is what the form submits.
        """
        request = self._direct_request(
            name,
            max_size=max_size,
            content_types=content_types,
            content_type=content_type,
            size=size,
            expires=expires,
            multipart_threshold=multipart_threshold,
            origin=origin,
            max_length=max_length,
        )
        with self.translating(request.name):
            grant, extra = self._direct_grant(request)
        payload = {
            "n": request.name,
            "m": request.max_size,
            "c": request.content_type,
            "t": request.content_types,
            "s": self._direct_identity(),
            **extra,
        }
        return {
            "version": 1,
            "name": request.name,
            "key": request.key,
            "max_size": request.max_size,
            "size": request.size,
            "content_type": request.content_type,
            "expires_at": int(time.time()) + request.expires,
            **grant,
            "token": sign_token(payload, scope),
        }

    def confirm_direct_upload(
        self, token: str, *, scope: str = "", max_age: float | None = DEFAULT_CONFIRM_MAX_AGE
    ) -> str:
        """Check a direct upload's ``token`` and the object it names; return the stored name.

        Raises :class:`DirectUploadError` when the token was altered, is older than
        ``max_age`` seconds, was made for another scope or storage, when no object was stored
        under its key, or when the object is too large or of a type not allowed (that object is
        then deleted).
        """
        payload = read_token(token, scope, max_age)
        if payload.get("s") != self._direct_identity():
            raise DirectUploadError("The upload token was made for another storage.", "scope")
        name = str(payload["n"])
        key = self._key(name)  # a name outside location cannot pass the name pipeline
        max_size = int(payload["m"])
        with self.translating(name):
            self._finish_direct_upload(key, payload)
        try:
            # Translated inside: the SDK's 404 becomes NotFound only at the boundary.
            with self.translating(name):
                info: ObjectInfo | None = self._stat_key(key)
        except (FileNotFoundError, NotFound):
            info = None
        if info is None:
            raise DirectUploadError(
                f"No file was uploaded as {name!r}: the upload did not finish.", "missing"
            )
        problem = self._direct_problem(info, max_size, payload)
        if problem is not None:
            message, code = problem
            self.delete(name)  # the grant was for this key alone: nobody else's file goes
            raise DirectUploadError(message, code)
        return name

    def _direct_problem(
        self, info: ObjectInfo, max_size: int, payload: dict[str, Any]
    ) -> tuple[str, str] | None:
        """Return why an uploaded object breaks its grant (None: it keeps it)."""
        if info.size > max_size:
            return (
                f"The file is {info.size} bytes; at most {max_size} bytes are allowed.",
                "too_large",
            )
        stored = _bare(info.content_type)
        patterns = payload.get("t")
        if stored != _bare(payload.get("c")) or not content_type_allowed(stored, patterns):
            allowed = ", ".join(patterns) if patterns else payload.get("c")
            return (
                f"The file was stored as {stored or 'no type'}; allowed: {allowed}.",
                "content_type",
            )
        return None

    def _direct_request(
        self,
        name: str,
        *,
        max_size: int,
        content_types: str | Sequence[str] | None,
        content_type: str | None,
        size: int | None,
        expires: int | None,
        multipart_threshold: int,
        origin: str | None,
        max_length: int | None,
    ) -> DirectUploadRequest:
        if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 0:
            raise ValueError(f"max_size must be a number of bytes, not {max_size!r}")
        lifetime = DEFAULT_EXPIRES if expires is None else int(expires)
        if not 0 < lifetime <= MAX_EXPIRES:
            raise ValueError(f"expires must be within 1..{MAX_EXPIRES} seconds, not {expires!r}")
        if size is not None and size > max_size:
            raise DirectUploadError(
                f"The file is {size} bytes; at most {max_size} bytes are allowed.", "too_large"
            )
        patterns = normalize_content_types(content_types)
        declared = _bare(content_type) or _bare(mimetypes.guess_type(name)[0])
        declared = declared or _bare(self.default_content_type) or DEFAULT_CONTENT_TYPE
        if not content_type_allowed(declared, patterns):
            raise DirectUploadError(
                f"Files of type {declared} are not allowed here; allowed: "
                f"{', '.join(patterns or ())}.",
                "content_type",
            )
        chosen = self._direct_name(name, max_length)
        key = self._key(chosen)
        self._check_writable(key)
        return DirectUploadRequest(
            chosen,
            key,
            max_size,
            declared,
            patterns,
            size,
            lifetime,
            multipart_threshold,
            origin,
        )

    def _direct_name(self, name: str, max_length: int | None) -> str:
        """Return a free name for a direct upload of ``name``: always with a random suffix, so
        two grants made at the same moment for one name never share a key (a grant cannot be
        made create-only on every service), and never an existing file, whatever the overwrite
        setting says (the browser must not replace files)."""
        normalized = names.normalize_name(name)
        self._key(normalized)  # refuse names outside location before anything else
        return self._next_free_name(normalized, max_length)

    def _direct_identity(self) -> str:
        """Return what ties a token to this storage: its class and where it stores files."""
        return f"{type(self).__name__}:{self._direct_container()}:{self.location}"

    def _direct_container(self) -> str:
        """Return the bucket or container name (backends override)."""
        return ""

    def _direct_grant(self, request: DirectUploadRequest) -> tuple[dict[str, Any], dict[str, Any]]:
        """Return the protocol fields of a grant and extra token payload (backends override)."""
        raise NotImplementedError(unsupported_message(self))

    def _finish_direct_upload(self, key: str, payload: dict[str, Any]) -> None:
        """Do the server's part of an upload before it is checked (none by default)."""


def parameter_fields(
    params: dict[str, Any],
    table: Mapping[str, str],
    *,
    metadata: tuple[str, str],
    setting: str,
) -> dict[str, str]:
    """Return the form fields or headers that carry object ``params`` on a browser's upload.

    ``table`` maps parameter names to field names; ``metadata`` is the parameter holding user
    metadata and the prefix of its fields. A parameter a browser cannot send is a configuration
    error naming ``setting``, not something to drop silently.
    """
    params = dict(params)
    meta_param, prefix = metadata
    fields = {f"{prefix}{k}": str(v) for k, v in (params.pop(meta_param, None) or {}).items()}
    for param, value in params.items():
        if value is None:
            continue
        if param not in table:
            raise ImproperlyConfigured(
                f"The object parameter {param!r} cannot be set on a browser's upload; remove it "
                f"from {setting} (or get_object_parameters()) for direct uploads."
            )
        fields[table[param]] = str(value)
    return fields
