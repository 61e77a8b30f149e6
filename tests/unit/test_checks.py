"""System checks."""

from __future__ import annotations

import django
import pytest
from django.test import override_settings

from storages.checks import check_legacy_storage_settings, check_setting_typos
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
