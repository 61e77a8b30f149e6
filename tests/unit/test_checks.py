"""System checks."""

from __future__ import annotations

import django
import pytest
from django.test import override_settings

from storages.checks import (
    check_legacy_storage_settings,
    check_public_acls,
    check_setting_typos,
)
from tests.unit.sample import SampleStorage  # noqa: F401 - registers its settings


@pytest.mark.skipif(django.VERSION < (5, 1), reason="Django 4.2 still reads the legacy settings")
@override_settings(DEFAULT_FILE_STORAGE="storages.backends.s3.S3Storage")
def test_legacy_setting_warns_with_the_storages_equivalent():
    (warning,) = check_legacy_storage_settings()
    assert warning.id == "storages.W001"
    assert '"default": {"BACKEND": "storages.backends.s3.S3Storage"}' in warning.hint


@override_settings(STOWAGE_BUCKETT="typo")
def test_typo_check_suggests_the_real_name():
    messages = [m for m in check_setting_typos() if "STOWAGE_BUCKETT" in m.msg]
    assert messages and messages[0].hint == "Did you mean STOWAGE_BUCKET?"


@override_settings(
    AWS_DEFAULT_ACL="public-read",
    STORAGES={
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {"object_parameters": {"ACL": "public-read-write"}},
        },
        "staticfiles": {"BACKEND": "storages.backends.s3.S3StaticStorage"},
    },
)
def test_public_acls_are_reported_with_where_they_are_set():
    messages = check_public_acls()
    assert {m.id for m in messages} == {"storages.W003"}
    text = " ".join(m.msg for m in messages)
    assert "AWS_DEFAULT_ACL is 'public-read'" in text
    assert 'STORAGES["default"]["OPTIONS"]["object_parameters"]["ACL"]' in text


@override_settings(AWS_DEFAULT_ACL=None, AWS_S3_OBJECT_PARAMETERS={"ACL": "private"})
def test_private_acls_are_not_reported():
    assert check_public_acls() == []


def test_checks_are_registered_by_the_app():
    from django.core.checks import registry

    assert check_public_acls in registry.registry.get_checks()
