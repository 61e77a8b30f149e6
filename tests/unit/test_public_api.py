"""The public surface: documented names import, every storage class keeps the names of the
Django Storage API and of django-storages 1.14.6 (with their parameters, in order), and the base
package pulls in no SDK. A rename, a removal or a reordered parameter fails here."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys
from typing import Any

import pytest

PUBLIC = {
    "storages.utils": [
        "setting",
        "clean_name",
        "safe_join",
        "get_available_overwrite_name",
        "check_location",
        "lookup_env",
        "is_seekable",
        "to_bytes",
        "ReadBytesWrapper",
    ],
    "storages.errors": ["StorageError", "NotFound", "AlreadyExists", "AccessDenied"],
    "storages.base": ["BaseStorage"],
    "storages.files": ["StorageFile", "parse_mode"],
    "storages.objects": ["ObjectInfo", "UploadTarget"],
    "storages.backends.s3": ["S3Storage", "S3StaticStorage", "S3ManifestStaticStorage", "S3File"],
    "storages.backends.s3boto3": ["S3Boto3Storage", "S3Boto3StorageFile", "S3File"],
    "storages.backends.azure_storage": ["AzureStorage", "AzureStorageFile"],
    "storages.backends.gcloud": ["GoogleCloudStorage", "GoogleCloudFile"],
    "storages.backends.dropbox": [
        "DropboxStorage",
        "DropBoxStorage",
        "DropboxFile",
        "DropBoxFile",
        "DropboxStorageException",
        "DropBoxStorageException",
    ],
    "storages.backends.apache_libcloud": ["LibCloudStorage", "LibCloudFile"],
    "storages.backends.ftp": ["FTPStorage", "FTPStorageFile", "FTPStorageException"],
    "storages.backends.sftpstorage": ["SFTPStorage", "SFTPStorageFile"],
    "storages.compress": ["GZIP_CONTENT_TYPES", "GzipCompressingReader"],
}

#: Django's Storage API (and what every storage of this package adds), on every storage class.
STORAGE_API = (
    "save",
    "open",
    "delete",
    "exists",
    "listdir",
    "size",
    "url",
    "path",
    "get_accessed_time",
    "get_created_time",
    "get_modified_time",
    "get_available_name",
    "get_alternative_name",
    "get_valid_name",
    "generate_filename",
    "deconstruct",
    "get_default_settings",
    "close",
    "__enter__",
    "__exit__",
    "client",
)

#: Leading parameters (after ``self``) of the Storage API, in their positional order.
STORAGE_API_PARAMETERS = {
    "save": ("name", "content", "max_length"),
    "open": ("name", "mode"),
    "delete": ("name",),
    "exists": ("name",),
    "listdir": ("path",),
    "size": ("name",),
    "url": ("name",),
    "path": ("name",),
    "get_accessed_time": ("name",),
    "get_created_time": ("name",),
    "get_modified_time": ("name",),
    "get_available_name": ("name", "max_length"),
    "get_alternative_name": ("file_root", "file_ext"),
    "get_valid_name": ("name",),
    "generate_filename": ("filename",),
    "get_default_settings": (),
    "close": (),
}

S3 = "storages.backends.s3.S3Storage"
AZURE = "storages.backends.azure_storage.AzureStorage"
GCS = "storages.backends.gcloud.GoogleCloudStorage"
DROPBOX = "storages.backends.dropbox.DropboxStorage"
FTP = "storages.backends.ftp.FTPStorage"
SFTP = "storages.backends.sftpstorage.SFTPStorage"
LIBCLOUD = "storages.backends.apache_libcloud.LibCloudStorage"

#: Each backend's own public names beyond the Storage API: what kind of attribute each is
#: ("property", "method" or "attribute", an instance attribute set when the storage is made),
#: and a method's leading parameters in order.
BACKEND_NAMES: dict[str, dict[str, tuple[str, tuple[str, ...]]]] = {
    S3: {
        "connection": ("property", ()),
        "unsigned_connection": ("property", ()),
        "bucket": ("property", ()),
        "get_cloudfront_signer": ("method", ("key_id", "key")),
        "cloudfront_signer": ("attribute", ()),
        "get_object_parameters": ("method", ("name",)),
        "url": ("method", ("name", "parameters", "expire", "http_method")),
    },
    AZURE: {
        "service_client": ("property", ()),
        "client": ("property", ()),
        "azure_protocol": ("property", ()),
        "list_all": ("method", ("path",)),
        "get_user_delegation_key": ("method", ("expiry",)),
        "get_object_parameters": ("method", ("name",)),
        "get_name_max_len": ("method", ()),
        "url": ("method", ("name", "expire", "parameters", "mode")),
    },
    GCS: {
        "client": ("property", ()),
        "bucket": ("property", ()),
        "get_object_parameters": ("method", ("name",)),
        "url": ("method", ("name", "parameters")),
    },
    DROPBOX: {
        "client": ("property", ()),
        "root_path": ("attribute", ()),
        "CHUNK_SIZE": ("attribute", ()),
    },
    FTP: {"disconnect": ("method", ())},
    SFTP: {"sftp": ("property", ())},
    LIBCLOUD: {
        "driver": ("property", ()),
        "provider": ("attribute", ()),
        "bucket": ("attribute", ()),
    },
}

#: The file classes' constructors, in django-storages' positional order.
FILE_PARAMETERS = {
    "storages.backends.s3.S3File": ("name", "mode", "storage", "buffer_size"),
    "storages.backends.azure_storage.AzureStorageFile": ("name", "mode", "storage"),
    "storages.backends.gcloud.GoogleCloudFile": ("name", "mode", "storage"),
    "storages.backends.dropbox.DropboxFile": ("name", "storage"),
    "storages.backends.ftp.FTPStorageFile": ("name", "storage", "mode"),
    "storages.backends.sftpstorage.SFTPStorageFile": ("name", "storage", "mode"),
    "storages.backends.apache_libcloud.LibCloudFile": ("name", "storage", "mode"),
}


MISSING = object()


def load(dotted: str) -> Any:
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


def leading_parameters(function: Any, count: int) -> tuple[str, ...]:
    names = [
        p.name
        for p in inspect.signature(function).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    return tuple(names[1 : count + 1])  # after self


@pytest.fixture
def made(tmp_path):
    """Build one storage of a class without touching the network (clients are lazy)."""
    from tests.servers.libcloud_local import local_providers

    options = {
        S3: {"bucket_name": "media"},
        AZURE: {"account_name": "acct", "azure_container": "media"},
        GCS: {"bucket_name": "media", "project_id": "project"},
        DROPBOX: {"oauth2_access_token": "token"},
        FTP: {"location": "ftp://user:secret@127.0.0.1:2121/media/"},
        SFTP: {"host": "127.0.0.1"},
        LIBCLOUD: {"provider_name": "local", "providers": local_providers(tmp_path)},
    }
    built: list[Any] = []

    def make(dotted: str) -> Any:
        storage = load(dotted)(**options[dotted])
        built.append(storage)
        return storage

    yield make
    for storage in built:
        storage.close()


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_public_names(module):
    mod = importlib.import_module(module)
    for name in PUBLIC[module]:
        assert name in mod.__all__
        assert getattr(mod, name) is not None


@pytest.mark.parametrize("dotted", sorted(BACKEND_NAMES))
def test_every_storage_has_the_storage_api(dotted):
    cls = load(dotted)
    for name in STORAGE_API:
        assert inspect.getattr_static(cls, name, MISSING) is not MISSING, f"{dotted} lost {name}"
    for name, expected in STORAGE_API_PARAMETERS.items():
        got = leading_parameters(getattr(cls, name), len(expected))
        assert got == expected, f"{dotted}.{name}{got}"


@pytest.mark.parametrize("dotted", sorted(BACKEND_NAMES))
def test_every_storage_keeps_its_own_public_names(dotted, made):
    cls = load(dotted)
    storage = made(dotted)
    for name, (kind, parameters) in BACKEND_NAMES[dotted].items():
        # getattr_static: a property is looked at, not run (it would connect).
        found = inspect.getattr_static(storage, name, MISSING)
        assert found is not MISSING, f"{dotted} lost {name}"
        on_class = inspect.getattr_static(cls, name, MISSING)
        if kind == "property":
            assert isinstance(on_class, property), f"{dotted}.{name} is no longer a property"
        elif kind == "method":
            assert inspect.isfunction(on_class), f"{dotted}.{name} is no longer a method"
            got = leading_parameters(on_class, len(parameters))
            assert got == parameters, f"{dotted}.{name}{got}"


@pytest.mark.parametrize("dotted", sorted(BACKEND_NAMES))
def test_every_storage_is_a_context_manager_and_has_default_settings(dotted, made):
    storage = made(dotted)
    with storage as entered:
        assert entered is storage
    defaults = storage.get_default_settings()
    assert defaults and all(hasattr(storage, attr) for attr in defaults)


@pytest.mark.parametrize("dotted", sorted(FILE_PARAMETERS))
def test_file_classes_keep_their_constructor_order(dotted):
    expected = FILE_PARAMETERS[dotted]
    assert leading_parameters(load(dotted).__init__, len(expected)) == expected


def test_importing_the_package_imports_no_cloud_sdk():
    code = (
        "import sys, storages, storages.base, storages.files, storages.utils,"
        " storages._object_store, storages._upload;"
        "sdks = {'boto3','botocore','azure','google','dropbox','paramiko','libcloud'};"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in sdks))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_py_typed_is_shipped():
    import storages

    assert (importlib.resources.files(storages) / "py.typed").is_file()
