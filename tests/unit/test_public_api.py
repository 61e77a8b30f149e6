"""The public surface: documented names import, and the base package pulls in no SDK."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

PUBLIC = {
    "storages.utils": ["setting", "clean_name", "safe_join", "get_available_overwrite_name"],
    "storages.errors": ["StorageError", "NotFound", "AlreadyExists", "AccessDenied"],
    "storages.base": ["BaseStorage"],
    "storages.files": ["StorageFile", "parse_mode"],
    "storages.objects": ["ObjectInfo", "UploadTarget"],
    "storages.backends.dropbox": ["DropboxStorage", "DropBoxStorage", "DropboxStorageException"],
    "storages.backends.apache_libcloud": ["LibCloudStorage"],
    "storages.backends.ftp": ["FTPStorage", "FTPStorageFile", "FTPStorageException"],
    "storages.compress": ["GZIP_CONTENT_TYPES", "GzipCompressingReader"],
}


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_public_names(module):
    mod = importlib.import_module(module)
    for name in PUBLIC[module]:
        assert name in mod.__all__
        assert getattr(mod, name) is not None


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
