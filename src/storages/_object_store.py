"""What every object store (S3, Azure, GCS, ...) decides the same way, written once.

* object parameters: the backend's ``object_parameters`` setting, per file through the public
  ``get_object_parameters(name)`` hook;
* the content type and encoding of a new object: given in the parameters, else the uploaded
  file's own content type, else guessed from the name (``x.tar.gz`` is ``application/x-tar``
  with encoding ``gzip``), else ``default_content_type``;
* gzip: ``save()`` compresses a body when the backend's gzip setting is on, its content type is
  listed in ``gzip_content_types`` and it has no encoding yet; a read decompresses what was
  stored that way.
"""

from __future__ import annotations

import mimetypes
from typing import Any, ClassVar

from storages.base import BaseStorage
from storages.compress import GZIP_CONTENT_TYPES, gunzip_reader, should_gzip
from storages.objects import ObjectInfo, UploadTarget

__all__ = ["ObjectStore"]

DEFAULT_CONTENT_TYPE = "application/octet-stream"


class ObjectStore(BaseStorage):
    """A storage of named objects in a bucket or container (no real directories)."""

    #: The keys of ``object_parameters`` that hold the content type and encoding.
    content_type_param: ClassVar[str] = "content_type"
    content_encoding_param: ClassVar[str] = "content_encoding"

    # Backends declare these as settings under their documented names; plain defaults here.
    object_parameters: Any = None
    gzip: Any = False
    gzip_content_types: Any = GZIP_CONTENT_TYPES
    default_content_type: Any = DEFAULT_CONTENT_TYPE

    def get_object_parameters(self, name: str) -> dict[str, Any]:
        """Return the object parameters of a new file ``name``; override to vary them."""
        return dict(self.object_parameters or {})

    def _upload_target(
        self, key: str, name: str, content_type: str | None, overwrite: bool, compress: bool = False
    ) -> UploadTarget:
        params = self.get_object_parameters(name)
        guessed, guessed_encoding = mimetypes.guess_type(name)
        ctype = params.pop(self.content_type_param, None) or content_type or guessed
        ctype = ctype or self.default_content_type or DEFAULT_CONTENT_TYPE
        encoding = params.pop(self.content_encoding_param, None) or guessed_encoding
        gzip = (
            compress
            and bool(self.gzip)
            and not encoding
            and should_gzip(ctype, self.gzip_content_types)
        )
        if gzip:
            encoding = "gzip"
        return UploadTarget(key, name, overwrite, ctype, encoding, gzip, params)

    def _decompresses(self, info: ObjectInfo) -> bool:
        """Return whether reads of ``info``'s object are decompressed (stored by gzip on)."""
        return (
            bool(self.gzip)
            and info.content_encoding == "gzip"
            and should_gzip(info.content_type, self.gzip_content_types)
        )

    def _wrap_read_stream(self, stream: Any, info: ObjectInfo) -> Any:
        if self._decompresses(info):
            return gunzip_reader(stream)
        return stream
