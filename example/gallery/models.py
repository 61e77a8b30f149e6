"""Uploaded files, stored through the default storage (S3)."""

from __future__ import annotations

from django.db import models

from storages.direct import DirectUploadField

#: The largest file the direct-upload page takes.
DIRECT_MAX_SIZE = 200 * 1024 * 1024
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg")


class Upload(models.Model):
    """One file a visitor uploaded."""

    file = models.FileField(upload_to="uploads/%Y/%m/")
    title = models.CharField(max_length=200, blank=True)
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-uploaded_at"]

    def __str__(self) -> str:
        return self.title or self.file.name

    @property
    def is_image(self) -> bool:
        """Return whether the file can be shown as a thumbnail."""
        return self.file.name.lower().endswith(IMAGE_SUFFIXES)


class Document(models.Model):
    """A file the browser sent straight to the bucket (the direct-upload page)."""

    file = DirectUploadField(upload_to="direct/%Y/%m/", max_size=DIRECT_MAX_SIZE)
    title = models.CharField(max_length=200, blank=True)
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-uploaded_at"]

    def __str__(self) -> str:
        return self.title or self.file.name
