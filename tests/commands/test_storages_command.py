"""``manage.py storages check|copy|sync`` against the real local servers."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from tests.commands.conftest import S3Calls

LOCAL = "django.core.files.storage.FileSystemStorage"
FILES = {
    "a.txt": b"alpha",
    "docs/b.txt": b"bravo" * 100,
    "docs/deep/c.bin": bytes(range(256)) * 40,
}


def run(*args, **options):
    out, err = io.StringIO(), io.StringIO()
    call_command("storages", *args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def fail(*args, **options):
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("storages", *args, stdout=out, stderr=err, **options)
    return out.getvalue(), str(caught.value)


@pytest.fixture
def local_dir(tmp_path):
    root = tmp_path / "local"
    for name, data in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


@pytest.fixture
def configured(moto_server, s3_bucket, gcs_server, gcs_bucket, local_dir):
    """STORAGES with a local directory, an S3 bucket and a GCS bucket."""
    entries = {
        "default": {"BACKEND": LOCAL, "OPTIONS": {"location": str(local_dir)}},
        "staticfiles": {"BACKEND": LOCAL, "OPTIONS": {"location": str(local_dir)}},
        "s3": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": moto_server.options(s3_bucket),
        },
        "gcs": {
            "BACKEND": "storages.backends.gcloud.GoogleCloudStorage",
            "OPTIONS": gcs_server.options(gcs_bucket, file_overwrite=True),
        },
    }
    with override_settings(STORAGES=entries):
        yield entries


def bucket_files(storage):
    return {name: storage.open(name).read() for name, _ in storage.scan()}


def test_check_passes_for_a_working_storage_and_masks_secrets(configured):
    out, _ = run("check", "s3")
    assert 'Storage "s3": storages.backends.s3.S3Storage' in out
    for step in ("configuration", "reachable", "write", "read", "url", "clock", "delete"):
        assert f"ok    {step}:" in out
    assert "secret_key = ********  AWS_S3_SECRET_ACCESS_KEY  [STORAGES OPTIONS]" in out
    assert "preload_metadata" not in out  # deprecated, and not set
    assert "querystring_expire = 3600  AWS_QUERYSTRING_EXPIRE  [default]" in out
    assert configured["s3"]["OPTIONS"]["secret_key"] not in out
    from django.core.files.storage import storages

    assert list(storages["s3"].scan()) == []  # the probe is gone


def test_check_names_the_setting_to_fix(configured):
    configured["s3"]["OPTIONS"]["bucket_name"] = "no-such-bucket-here"
    out, error = fail("check", "s3", "default")
    assert "FAIL  reachable: NotFound" in out
    assert "fix: check AWS_STORAGE_BUCKET_NAME (option 'bucket_name')" in out
    assert "problems with: s3." in error
    assert 'Storage "default"' in out  # the other alias is checked too


def test_check_reports_credentials_and_urls(azurite, azure_container, configured):
    from tests.servers.azure import KEY

    options = azurite.options(azure_container, expiration_secs=300)
    configured["azure"] = {"BACKEND": "storages.backends.azure_storage.AzureStorage"}
    configured["azure"]["OPTIONS"] = options
    out, _ = run("check", "azure")
    assert "ok    url: fetched" in out
    # Plain URLs of a private container: the browser is refused, and the fix says why.
    configured["azure"]["OPTIONS"] = {**options, "expiration_secs": None}
    out, _ = fail("check", "azure")
    assert "FAIL  url: GET" in out and "AZURE_URL_EXPIRATION_SECS" in out
    # A wrong key: refused, with the credential settings to look at and no secret shown.
    wrong = options["connection_string"].replace(KEY, "bm90LXRoZS1rZXk" * 4 + "=")
    configured["azure"]["OPTIONS"] = {**options, "connection_string": wrong}
    out, _ = fail("check", "azure")
    assert "FAIL  reachable: AccessDenied" in out
    assert "AZURE_CONNECTION_STRING (option 'connection_string')" in out
    assert "bm90LXRoZS1rZXk" not in out


def test_check_without_writing_and_unknown_aliases(configured):
    out, _ = run("check", "gcs", "--no-write")
    assert "ok    reachable" in out and "skip  write" in out
    _, error = fail("check", "nope")
    assert "No storage 'nope' in STORAGES" in error and "s3" in error


def test_copy_then_rerun_skips_everything_without_reading(configured):
    from django.core.files.storage import storages

    out, _ = run("copy", "default", "s3")
    assert "3 copied, 0 skipped (identical), 0 deleted" in out
    assert bucket_files(storages["s3"]) == FILES
    out, _ = run("copy", "s3", "gcs", "docs")
    assert "2 copied" in out
    assert sorted(n for n, _ in storages["gcs"].scan()) == ["docs/b.txt", "docs/deep/c.bin"]
    calls = S3Calls(storages["s3"])
    out, _ = run("copy", "s3", "gcs", "docs")
    assert "0 copied, 2 skipped (identical)" in out
    assert calls == {"ListObjectsV2": 1}  # compared by the listings' checksums alone


def test_sync_delete_only_after_every_copy_succeeded(configured, local_dir):
    from django.core.files.storage import storages

    run("copy", "default", "s3")
    storages["s3"].save("extra.txt", io.BytesIO(b"not in the source"))
    (local_dir / "a.txt").write_bytes(b"alpha, changed")
    out, _ = run("sync", "default", "s3", "--delete", "--dry-run")
    assert "Would copy a.txt" in out and "Would delete extra.txt" in out
    assert storages["s3"].exists("extra.txt")
    out, _ = run("sync", "default", "s3", "--delete")
    assert "1 copied, 2 skipped (identical), 1 deleted" in out
    assert bucket_files(storages["s3"]) == {**FILES, "a.txt": b"alpha, changed"}


def test_sync_failure_lists_the_files_and_deletes_nothing(configured, local_dir):
    from django.core.files.storage import storages

    run("copy", "default", "s3")
    storages["s3"].save("extra.txt", io.BytesIO(b"keep me while copies fail"))
    (local_dir / "docs/b.txt").write_bytes(b"changed")

    def refuse(params, **_):
        if params["Key"] == "docs/b.txt":
            raise ConnectionError("the network went away")

    storages["s3"].client.meta.events.register("before-parameter-build.s3.PutObject", refuse)
    _, error = fail("sync", "default", "s3", "--delete")
    assert "1 file(s) could not be copied" in error and "docs/b.txt" in error
    assert storages["s3"].exists("extra.txt")


def test_copy_refuses_a_foreign_destination(configured):
    _, error = fail("copy", "s3", "default")
    assert "not a django-stowage storage" in error
