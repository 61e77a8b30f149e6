"""The 1.9.1 dotted paths of the S3 backend: the same classes under their older names."""

from storages.backends.s3 import S3File, S3ManifestStaticStorage, S3StaticStorage, S3Storage

S3Boto3Storage = S3Storage
S3Boto3StorageFile = S3File

__all__ = [
    "S3Boto3Storage",
    "S3Boto3StorageFile",
    "S3File",
    "S3ManifestStaticStorage",
    "S3StaticStorage",
]
