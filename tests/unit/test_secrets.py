"""Secrets never show in repr, deconstruct(), pickles or error messages."""

from __future__ import annotations

import pickle

import pytest
from django.test import override_settings

from storages import _configurable
from storages.errors import StorageError
from tests.unit.sample import SampleStorage

SECRET = "AKIA-VERY-SECRET-VALUE"


def test_repr_and_str_hide_secrets():
    storage = SampleStorage(access_key=SECRET, bucket_name="b")
    assert SECRET not in repr(storage)
    assert SECRET not in str(storage)
    assert "bucket_name='b'" in repr(storage)


def test_deconstruct_keeps_options_but_not_secrets():
    storage = SampleStorage(access_key=SECRET, bucket_name="b", region="r")
    path, args, kwargs = storage.deconstruct()
    assert path == "tests.unit.sample.SampleStorage"
    assert args == ()
    assert kwargs == {"bucket_name": "b", "region": "r"}


def test_migration_writer_output_has_no_secret():
    from django.db.migrations.writer import MigrationWriter

    text, _imports = MigrationWriter.serialize(SampleStorage(access_key=SECRET, region="r"))
    assert SECRET not in text
    assert "region='r'" in text


def test_pickle_carries_no_secret_but_works_in_process():
    storage = SampleStorage(access_key=SECRET)
    data = pickle.dumps(storage)
    assert SECRET.encode() not in data
    clone = pickle.loads(data)
    assert clone.access_key == SECRET
    assert clone.client["key"] == SECRET
    assert clone.deconstruct() == storage.deconstruct()


def test_pickle_in_another_process_reads_secrets_from_settings():
    storage = SampleStorage(access_key=SECRET)
    data = pickle.dumps(storage)
    _configurable._SECRET_VAULT.clear()  # what a fresh process sees
    with override_settings(STOWAGE_KEY="other-process-key"):
        clone = pickle.loads(data)
        assert clone.access_key == "other-process-key"


def test_pickle_drops_clients():
    storage = SampleStorage(access_key=SECRET)
    _ = storage.client
    clone = pickle.loads(pickle.dumps(storage))
    assert clone._shared_client is None


def test_error_messages_are_redacted():
    storage = SampleStorage(access_key=SECRET)
    with pytest.raises(StorageError) as info, storage.translating("x.txt"):
        raise ConnectionError(f"auth failed for key {SECRET}")
    assert SECRET not in str(info.value)
    assert "x.txt" in str(info.value)


def test_a_translated_error_chains_no_secret_either():
    import traceback

    storage = SampleStorage(access_key=SECRET)
    with pytest.raises(StorageError) as info, storage.translating("x.txt"):
        raise ConnectionError(f"auth failed for key {SECRET}")
    printed = "".join(traceback.format_exception(info.value))
    assert SECRET not in printed
    assert "auth failed for key" in printed  # the SDK's words stay, without the secret
    assert "test_secrets.py" in printed  # and so does the traceback of where it was raised


def test_a_translated_error_without_secrets_chains_the_sdk_error_itself():
    storage = SampleStorage(access_key=SECRET)
    original = ConnectionError("connection refused")
    with pytest.raises(StorageError) as info, storage.translating("x.txt"):
        raise original
    assert info.value.__cause__ is original
