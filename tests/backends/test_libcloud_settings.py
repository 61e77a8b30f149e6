"""Libcloud configuration: LIBCLOUD_PROVIDERS / DEFAULT_LIBCLOUD_PROVIDER as django-storages 1.9.1
documents them, the driver keywords users need, and the errors of a bad configuration."""

from __future__ import annotations

import pickle
import warnings

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.test import override_settings
from libcloud.common.types import LibcloudError
from libcloud.storage.drivers.local import LocalStorageDriver
from libcloud.storage.drivers.s3 import S3StorageDriver
from libcloud.storage.types import Provider

from storages.backends.apache_libcloud import LibCloudFile, LibCloudStorage
from storages.errors import StorageError
from tests.servers.libcloud_local import CONTAINER, LOCAL_TYPE, local_providers
from tests.servers.libcloud_s3 import s3_providers

SECRET = "very-secret-libcloud-key"


def s3_entry(**extra):
    entry = {"type": "libcloud.storage.types.Provider.S3", "user": "id", "key": SECRET}
    return {"bucket": "bucket-1", **entry, **extra}


def test_positional_alias_picks_the_provider(libcloud_root):
    providers = {**local_providers(libcloud_root, "first"), "other": s3_entry()}
    storage = LibCloudStorage("first", providers=providers)
    assert storage.provider_name == "first"
    assert storage.bucket == CONTAINER
    assert isinstance(storage.driver, LocalStorageDriver)


def test_provider_name_option_and_django_settings(libcloud_root):
    providers = {**local_providers(libcloud_root, "files"), "amazon_1": s3_entry()}
    with override_settings(LIBCLOUD_PROVIDERS=providers):
        assert isinstance(LibCloudStorage(provider_name="files").driver, LocalStorageDriver)
        with override_settings(DEFAULT_LIBCLOUD_PROVIDER="amazon_1"):
            storage = LibCloudStorage()
            assert isinstance(storage.driver, S3StorageDriver)
            assert storage.bucket == "bucket-1"


def test_default_alias_is_default(libcloud_root):
    with override_settings(LIBCLOUD_PROVIDERS=local_providers(libcloud_root, "default")):
        storage = LibCloudStorage()
        assert storage.provider_name == "default"
        assert storage.save("a.txt", ContentFile(b"a")) == "a.txt"
    assert (libcloud_root / CONTAINER / "a.txt").read_bytes() == b"a"


def test_changed_settings_reach_a_live_storage(libcloud_root, tmp_path):
    (tmp_path / "other" / CONTAINER).mkdir(parents=True)
    with override_settings(LIBCLOUD_PROVIDERS=local_providers(libcloud_root, "default")):
        storage = LibCloudStorage()
        storage.save("first.txt", ContentFile(b"1"))
        with override_settings(LIBCLOUD_PROVIDERS=local_providers(tmp_path / "other", "default")):
            assert not storage.exists("first.txt")
            storage.save("second.txt", ContentFile(b"2"))
        assert storage.exists("first.txt")
    assert (tmp_path / "other" / CONTAINER / "second.txt").exists()


@pytest.mark.parametrize(
    "type_",
    [LOCAL_TYPE, Provider.LOCAL, "local", LocalStorageDriver],
    ids=["dotted", "constant", "value", "class"],
)
def test_type_forms(libcloud_root, type_):
    storage = LibCloudStorage("local", providers=local_providers(libcloud_root, type=type_))
    assert isinstance(storage.driver, LocalStorageDriver)


def test_libcloud_0x_constants_of_the_old_documentation_still_work():
    with pytest.warns(DeprecationWarning, match=r"Provider\.S3'"):
        storage = LibCloudStorage(
            providers={
                "amazon_1": s3_entry(type="libcloud.storage.types.Provider.S3_US_STANDARD_HOST")
            },
            provider_name="amazon_1",
        )
    assert type(storage.driver) is S3StorageDriver


def test_host_port_secure_region_and_other_driver_keywords_reach_the_driver(libcloud_root):
    storage = LibCloudStorage(
        providers={
            "minio": s3_entry(host="minio.internal", port=9000, secure=False, region="eu-west-1")
        },
        provider_name="minio",
    )
    driver = storage.driver
    assert (driver.connection.host, driver.connection.port) == ("minio.internal", 9000)
    assert driver.secure is False
    assert driver.region == "eu-west-1"
    local = LibCloudStorage("local", providers=local_providers(libcloud_root, ex_use_locking=False))
    assert local.driver._ex_use_locking is False


def test_project_reaches_the_driver():
    storage = LibCloudStorage(
        providers={
            "google": {
                "type": "libcloud.storage.types.Provider.GOOGLE_STORAGE",
                "user": "GOOG0123456789ABCDEF",
                "key": SECRET,
                "bucket": "bucket-3",
                "project": "my-project",
            }
        },
        provider_name="google",
    )
    assert storage.driver.project == "my-project"


@pytest.mark.parametrize(
    "providers,alias,message",
    [
        ({}, "default", "needs LIBCLOUD_PROVIDERS"),
        ({"a": s3_entry(), "b": s3_entry()}, "amazon-1", "no provider 'amazon-1'.*'a', 'b'"),
        ({"default": {"user": "u", "key": "k", "bucket": "b"}}, "default", "needs a 'type'"),
        ({"default": s3_entry(bucket=None)}, "default", "needs a 'bucket'"),
        (
            {"default": s3_entry(type="libcloud.compute.types.Provider.EC2")},
            "default",
            "Unable to create libcloud driver type libcloud.compute.types.Provider.EC2: the "
            "type must look like",
        ),
        (
            {"default": s3_entry(type="libcloud.storage.types.Provider.CLOUDFIULES_US")},
            "default",
            "no storage provider 'CLOUDFIULES_US'",
        ),
        ({"default": s3_entry(type="nimbus-cloud")}, "default", "Unable to create .*nimbus-cloud"),
        ({"default": s3_entry(type=int)}, "default", "not a libcloud StorageDriver"),
        ({"default": s3_entry(region="mars-1")}, "default", "Invalid or unsupported region"),
    ],
    ids=[
        "no-providers",
        "unknown-alias",
        "no-type",
        "no-bucket",
        "wrong-module",
        "unknown-constant",
        "unknown-value",
        "not-a-driver",
        "driver-refuses",
    ],
)
def test_bad_configuration_is_reported_when_the_storage_is_created(providers, alias, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        LibCloudStorage(alias, providers=providers)


def test_a_driver_that_cannot_be_created_gives_its_own_message(tmp_path):
    providers = local_providers(tmp_path / "nowhere")
    with pytest.raises(ImproperlyConfigured) as caught:
        LibCloudStorage("local", providers=providers)
    assert str(caught.value) == (
        f"Unable to create libcloud driver type {LOCAL_TYPE}: The base path is not a directory"
    )


def test_missing_container_is_reported_at_first_use_and_can_be_created(libcloud_root):
    storage = LibCloudStorage("local", providers=local_providers(libcloud_root, bucket="later"))
    with pytest.raises(ImproperlyConfigured, match=r"container 'later'.*create_container"):
        storage.exists("a.txt")
    storage.driver.create_container("later")  # the documented way to create it
    storage.save("a.txt", ContentFile(b"a"))
    assert (libcloud_root / "later" / "a.txt").read_bytes() == b"a"


def test_missing_bucket_on_s3_is_improperly_configured(moto_server):
    storage = LibCloudStorage("moto", providers=s3_providers(moto_server, "no-such-bucket"))
    with pytest.raises(ImproperlyConfigured, match="container 'no-such-bucket'"):
        storage.save("a.txt", ContentFile(b"a"))


def test_the_key_is_kept_out_of_repr_deconstruct_pickles_and_errors(moto_server):
    providers = s3_providers(moto_server, "no-such-bucket", key=SECRET)
    storage = LibCloudStorage("moto", providers=providers)
    assert SECRET not in repr(storage)
    path, args, kwargs = storage.deconstruct()
    assert path == "storages.backends.apache_libcloud.LibCloudStorage"
    assert args == ("moto",)
    assert SECRET not in repr(kwargs)
    assert SECRET.encode() not in pickle.dumps(storage)
    clone = pickle.loads(pickle.dumps(storage))
    assert clone.bucket == "no-such-bucket"


class Indiscreet(LocalStorageDriver):
    """A LOCAL driver whose errors quote its credentials (fault injection at the client seam)."""

    def get_object(self, container_name, object_name):
        raise LibcloudError(f"refused key {self.secret} and token tok-{self.secret}", driver=self)


def test_secrets_in_driver_errors_are_redacted(libcloud_root):
    providers = local_providers(libcloud_root, type=Indiscreet, key=SECRET)
    storage = LibCloudStorage("local", providers=providers)
    with pytest.raises(StorageError) as caught:
        storage.size("a.txt")
    assert SECRET not in str(caught.value)
    assert "refused key" in str(caught.value)


def test_option_is_accepted_and_unused(libcloud_root):
    storage = LibCloudStorage("local", {"anything": 1}, providers=local_providers(libcloud_root))
    assert storage.option == {"anything": 1}


@pytest.mark.parametrize("size", [0, 1024, "8MB", True])
def test_upload_part_size_is_validated(libcloud_root, size):
    with pytest.raises(ImproperlyConfigured, match="upload_part_size"):
        LibCloudStorage("local", providers=local_providers(libcloud_root), upload_part_size=size)


def test_unknown_options_are_refused(libcloud_root):
    with pytest.raises(ImproperlyConfigured, match="unknown option"):
        LibCloudStorage("local", providers=local_providers(libcloud_root), bucket_name="x")


def test_files_are_libcloud_files(libcloud_local):
    storage = libcloud_local()
    storage.save("f.txt", ContentFile(b"f"))
    with storage.open("f.txt") as handle:
        assert isinstance(handle, LibCloudFile)
        assert handle.size == 1
    # The 1.9.1 signature: (name, storage, mode).
    with LibCloudFile("f.txt", storage, "rb") as handle:
        assert handle.read() == b"f"


def test_no_warning_when_the_storage_is_built(libcloud_root):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        LibCloudStorage("local", providers=local_providers(libcloud_root))
