"""Settings resolution: keyword > subclass attribute > Django setting > environment > default."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from tests.unit.sample import SampleStorage


def test_default_is_used_when_nothing_is_set():
    assert SampleStorage().bucket_name == "default-bucket"
    assert SampleStorage().setting_source("bucket_name") == "default"


@override_settings(STOWAGE_BUCKET="from-settings")
def test_django_setting_beats_default():
    storage = SampleStorage()
    assert storage.bucket_name == "from-settings"
    assert storage.setting_source("bucket_name") == "django"


@override_settings(STOWAGE_OLD_BUCKET="old-name")
def test_alias_is_read_when_the_main_name_is_missing():
    assert SampleStorage().bucket_name == "old-name"


@override_settings(STOWAGE_BUCKET="new", STOWAGE_OLD_BUCKET="old")
def test_main_name_beats_alias():
    assert SampleStorage().bucket_name == "new"


def test_environment_supplies_credentials(monkeypatch):
    monkeypatch.setenv("STOWAGE_KEY_ENV2", "from-env")
    assert SampleStorage().access_key == "from-env"
    monkeypatch.setenv("STOWAGE_KEY_ENV", "first-env")
    assert SampleStorage().access_key == "first-env"


def test_django_setting_beats_environment(monkeypatch):
    monkeypatch.setenv("STOWAGE_KEY_ENV", "from-env")
    with override_settings(STOWAGE_KEY="from-settings"):
        assert SampleStorage().access_key == "from-settings"


def test_environment_is_ignored_for_non_credentials(monkeypatch):
    monkeypatch.setenv("STOWAGE_REGION", "from-env")
    assert SampleStorage().region == "eu-1"


@override_settings(STOWAGE_BUCKET="from-settings")
def test_subclass_attribute_beats_django_setting():
    class Custom(SampleStorage):
        bucket_name = "from-class"

    storage = Custom()
    assert storage.bucket_name == "from-class"
    assert storage.setting_source("bucket_name") == "class"


def test_keyword_beats_subclass_attribute():
    class Custom(SampleStorage):
        bucket_name = "from-class"

    assert Custom(bucket_name="from-keyword").bucket_name == "from-keyword"


def test_subclass_property_is_respected():
    class Custom(SampleStorage):
        @property
        def region(self):
            return "computed"

    assert Custom().region == "computed"


def test_unknown_keyword_lists_valid_names():
    with pytest.raises(ImproperlyConfigured) as info:
        SampleStorage(bucket="typo")
    message = str(info.value)
    assert "bucket" in message
    assert "bucket_name" in message and "access_key" in message and "overwrite_files" in message


def test_keyword_alias_sets_the_setting():
    assert SampleStorage(overwrite_files=False).file_overwrite is False


def test_keyword_and_its_alias_together_are_refused():
    with pytest.raises(ImproperlyConfigured, match="twice"):
        SampleStorage(overwrite_files=False, file_overwrite=True)


def test_settings_are_reread_after_override_settings():
    storage = SampleStorage()
    with override_settings(STOWAGE_BUCKET="inside"):
        assert storage.bucket_name == "inside"
    assert storage.bucket_name == "default-bucket"


def test_keyword_values_survive_override_settings():
    storage = SampleStorage(bucket_name="kw")
    with override_settings(STOWAGE_BUCKET="inside"):
        assert storage.bucket_name == "kw"


def test_changed_setting_drops_the_client():
    storage = SampleStorage()
    assert storage.client["region"] == "eu-1"
    with override_settings(STOWAGE_REGION="us-2"):
        assert storage.client["region"] == "us-2"
    assert storage.client["region"] == "eu-1"


def test_mutable_defaults_are_not_shared():
    one, two = SampleStorage(), SampleStorage()
    one.params["CacheControl"] = "max-age=1"
    assert two.params == {}


def test_deprecated_setting_warns_with_replacement():
    with (
        override_settings(STOWAGE_LEGACY_FLAG=True),
        pytest.warns(
            DeprecationWarning, match="STOWAGE_LEGACY_FLAG is deprecated: use STOWAGE_PARAMS"
        ),
    ):
        assert SampleStorage().legacy_flag is True
    with pytest.warns(DeprecationWarning, match="legacy_flag is deprecated"):
        SampleStorage(legacy_flag=True)


@pytest.mark.parametrize("bad", ["/media", "/"])
def test_location_with_leading_slash_names_the_setting(bad):
    with pytest.raises(ImproperlyConfigured, match="STOWAGE_LOCATION") as info:
        SampleStorage(location=bad)
    assert "cannot start with '/'" in str(info.value)


def test_location_with_parent_reference_is_refused():
    with pytest.raises(ImproperlyConfigured, match="not a safe key prefix"):
        SampleStorage(location="media/../..")


def test_location_is_normalized():
    assert SampleStorage(location="media//uploads/").location == "media/uploads"
    assert SampleStorage(location="media\\x").location == "media/x"


def test_clients_are_per_thread_when_asked():
    import threading

    class PerThread(SampleStorage):
        client_per_thread = True

    storage = PerThread()
    seen = []
    thread = threading.Thread(target=lambda: seen.append(storage.client))
    thread.start()
    thread.join()
    assert storage.client is storage.client
    assert seen[0] is not storage.client


def test_shared_client_is_built_once_across_threads():
    from concurrent.futures import ThreadPoolExecutor

    storage = SampleStorage()
    before = SampleStorage.connects
    with ThreadPoolExecutor(8) as pool:
        clients = list(pool.map(lambda _: id(storage.client), range(32)))
    assert len(set(clients)) == 1
    assert SampleStorage.connects == before + 1


def test_invalid_value_from_override_settings_fails_at_next_use_only():
    storage = SampleStorage()
    with override_settings(STOWAGE_LOCATION="/bad"):
        with pytest.raises(ImproperlyConfigured, match="STOWAGE_LOCATION"):
            storage.exists("a.txt")
        with pytest.raises(ImproperlyConfigured, match="STOWAGE_LOCATION"):
            _ = storage.client
    assert storage.location == ""
    assert storage._key("a.txt") == "a.txt"


def test_class_level_access_reads_the_default_value():
    from storages.backends.s3 import S3Storage

    assert SampleStorage.region == "eu-1"
    assert S3Storage.default_content_type == "application/octet-stream"
    assert S3Storage.file_overwrite is True

    class Custom(SampleStorage):
        region = "custom-1"

    assert Custom.region == "custom-1"
    assert Custom().region == "custom-1"


def test_get_default_settings_returns_the_resolved_defaults():
    with override_settings(STOWAGE_REGION="from-settings"):
        defaults = SampleStorage().get_default_settings()
    assert defaults["region"] == "from-settings"
    assert defaults["bucket_name"] == "default-bucket"


def test_an_overridden_get_default_settings_changes_the_defaults():
    class Defaults(SampleStorage):
        def get_default_settings(self):
            return {**super().get_default_settings(), "region": "subclass-default"}

    assert Defaults().region == "subclass-default"
    assert Defaults(region="keyword").region == "keyword"  # keywords still win

    class Both(Defaults):
        region = "attribute"

    assert Both().region == "attribute"  # and subclass attributes too
