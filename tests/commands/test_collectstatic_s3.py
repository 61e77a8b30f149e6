"""collectstatic on S3 (moto): one listing, unchanged files skipped, parallel uploads, options."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import threading
import time

import pytest
from boto3.s3.transfer import TransferConfig
from django.core.management import CommandError

from storages.objects import CHECKSUM_METADATA
from tests.commands.conftest import SOURCES, S3Calls

MiB = 1024 * 1024
MANIFEST = "storages.backends.s3.S3ManifestStaticStorage"


def stored_keys(moto_server, bucket):
    pages = moto_server.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", ()))


def test_first_run_uploads_everything_then_a_rerun_sends_nothing(
    static_project, s3_static, moto_server, s3_bucket
):
    project = static_project(s3_static())
    with project.settings():
        first = project.collect()
        assert first.stats.copied == len(SOURCES)
        assert f"{len(SOURCES)} static files copied" in first.stdout
        assert "django-stowage: 4 copied, 0 skipped (unchanged), 0 deleted" in first.stdout
        calls = S3Calls(project.storage())
        again = project.collect()
    assert again.stats.copied == 0
    assert again.stats.skipped == len(SOURCES)
    assert f"0 static files copied, {len(SOURCES)} unmodified" in again.stdout
    # One listing instead of a HEAD per file (Django's command: exists + get_modified_time).
    assert calls == {"ListObjectsV2": 1}
    assert stored_keys(moto_server, s3_bucket) == sorted(SOURCES)


def test_a_changed_file_is_uploaded_again_and_only_it(static_project, s3_static):
    project = static_project(s3_static())
    with project.settings():
        project.collect()
        project.write("js/app.js", b"console.log('changed');\n")  # same name, new bytes
        calls = S3Calls(project.storage())
        run = project.collect(verbosity=2)
        assert calls == {"ListObjectsV2": 1, "PutObject": 1}
        with project.storage().open("js/app.js") as handle:
            assert handle.read() == b"console.log('changed');\n"
    assert run.command.copied_files == ["js/app.js"]
    assert f"Copying '{project.root / 'js/app.js'}'" in run.stdout
    assert "Skipping 'css/site.css' (not modified)" in run.stdout


def test_uploads_record_the_checksum_as_metadata(static_project, s3_static, moto_server, s3_bucket):
    project = static_project(s3_static(location="static"))
    with project.settings():
        project.collect()
    head = moto_server.client().head_object(Bucket=s3_bucket, Key="static/js/app.js")
    assert head["Metadata"][CHECKSUM_METADATA] == hashlib.md5(SOURCES["js/app.js"]).hexdigest()


def test_multipart_objects_compare_through_their_metadata(static_project, s3_static):
    part = 5 * MiB
    transfer = TransferConfig(multipart_threshold=part, multipart_chunksize=part)
    project = static_project(s3_static(transfer_config=transfer))
    big = bytes(range(256)) * (6 * MiB // 256)  # two parts: its ETag is not an MD5
    project.write("data/big.bin", big)
    with project.settings():
        project.collect()
        etag = project.storage().client.head_object(
            Bucket=project.storage().bucket_name, Key="data/big.bin"
        )["ETag"]
        assert "-" in etag
        calls = S3Calls(project.storage())
        again = project.collect()
    assert again.stats.copied == 0
    # The listing cannot tell a multipart object's checksum: one HEAD reads the metadata.
    assert calls == {"ListObjectsV2": 1, "HeadObject": 1}


def test_a_file_larger_than_memory_batches_is_streamed_and_compared(static_project, s3_static):
    project = static_project(s3_static())
    huge = b"0123456789abcdef" * (9 * MiB // 16)  # above the in-memory limit (8 MiB)
    project.write("data/huge.bin", huge)
    with project.settings():
        project.collect()
        assert project.storage().size("data/huge.bin") == len(huge)
        again = project.collect()
    assert again.stats.copied == 0
    assert again.stats.skipped == len(SOURCES) + 1


def test_gzip_compares_what_would_be_stored(static_project, s3_static, moto_server, s3_bucket):
    project = static_project(s3_static(gzip=True))
    with project.settings():
        project.collect()
        stored = moto_server.client().get_object(Bucket=s3_bucket, Key="css/site.css")
        assert stored["ContentEncoding"] == "gzip"
        assert gzip.decompress(stored["Body"].read()) == SOURCES["css/site.css"]
        again = project.collect()
    assert again.stats.skipped == len(SOURCES)
    # Turning gzip off changes what would be stored for CSS and JS (not for the others).
    project.staticfiles = s3_static(gzip=False)
    with project.settings():
        plain = project.collect()
    assert sorted(plain.command.copied_files) == ["css/site.css", "js/app.js"]


def test_dry_run_changes_nothing(static_project, s3_static, moto_server, s3_bucket):
    project = static_project(s3_static())
    with project.settings():
        run = project.collect(dry_run=True)
    assert f"Pretending to copy '{project.root / 'css/site.css'}'" in run.stdout
    assert "4 would be copied" in run.stdout
    assert stored_keys(moto_server, s3_bucket) == []


def test_clear_deletes_everything_first(static_project, s3_static, moto_server, s3_bucket):
    project = static_project(s3_static())
    with project.settings():
        project.collect()
        project.storage().save("stale/old.txt", io.BytesIO(b"old"))
        dry = project.collect(clear=True, dry_run=True)
        assert "Pretending to delete 'stale/old.txt'" in dry.stdout
        assert "stale/old.txt" in stored_keys(moto_server, s3_bucket)
        run = project.collect(clear=True)
    assert "Deleting 'stale/old.txt'" in run.stdout
    assert run.stats.deleted == len(SOURCES) + 1
    assert run.stats.copied == len(SOURCES)
    assert stored_keys(moto_server, s3_bucket) == sorted(SOURCES)


def test_ignore_patterns_and_no_default_ignore(static_project, s3_static, moto_server, s3_bucket):
    project = static_project(s3_static())
    project.write(".hidden", b"secret-ish")
    with project.settings():
        project.collect(ignore_patterns=["fonts"])
        assert stored_keys(moto_server, s3_bucket) == ["css/site.css", "img/logo.png", "js/app.js"]
        project.collect(use_default_ignore_patterns=False)
    assert ".hidden" in stored_keys(moto_server, s3_bucket)


def test_link_is_refused_with_a_clear_message(static_project, s3_static):
    project = static_project(s3_static())
    with project.settings(), pytest.raises(CommandError, match="without --link"):
        project.collect(link=True)


def test_jobs_must_be_positive(static_project, s3_static):
    project = static_project(s3_static())
    with project.settings(), pytest.raises(CommandError, match="--jobs"):
        project.collect(jobs=0)


def test_uploads_run_in_parallel(static_project, s3_static):
    project = static_project(s3_static())
    for index in range(24):
        project.write(f"many/{index:02d}.txt", f"file {index}".encode())
    state = {"now": 0, "most": 0}
    lock = threading.Lock()

    def slow_put(**_):
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
        time.sleep(0.05)
        with lock:
            state["now"] -= 1

    with project.settings():
        project.storage().client.meta.events.register("before-call.s3.PutObject", slow_put)
        project.collect(jobs=4)
    assert 2 <= state["most"] <= 4


def test_failures_are_listed_and_the_command_fails(static_project, s3_static):
    project = static_project(s3_static())

    def refuse(params, **_):
        if params["Key"] == "js/app.js":
            raise ConnectionError("the network went away")

    with project.settings():
        project.storage().client.meta.events.register("before-parameter-build.s3.PutObject", refuse)
        with pytest.raises(CommandError) as caught:
            project.collect()
    assert "1 file(s) could not be stored" in str(caught.value)
    assert "js/app.js" in str(caught.value)


def test_progress_lines_when_not_a_terminal(static_project, s3_static):
    project = static_project(s3_static())
    with project.settings():
        run = project.collect()
        quiet = project.collect(verbosity=0)
    assert "collectstatic: 4/4 files" in run.stderr
    assert quiet.stderr == "" and quiet.stdout == ""


def test_manifest_storage_hashes_once_and_uploads_only_what_changed(
    static_project, s3_static, moto_server, s3_bucket
):
    project = static_project(s3_static(MANIFEST))
    with project.settings():
        first = project.collect()
        keys = stored_keys(moto_server, s3_bucket)
        manifest = json.loads(project.storage().open("staticfiles.json").read())
        hashed_css = manifest["paths"]["css/site.css"]
        assert hashed_css in keys and manifest["paths"]["img/logo.png"] in keys
        assert len(first.command.post_processed_files) == len(SOURCES)

        calls = S3Calls(project.storage())
        again = project.collect()
        assert again.stats.copied == 0
        assert calls["PutObject"] == 0 and calls["DeleteObject"] == 0
        assert calls["ListObjectsV2"] == 1 and calls["HeadObject"] == 0

        # A new logo: it, its hashed copy, the stylesheet that names it and the manifest change.
        project.write("img/logo.png", b"\x89PNG new logo")
        calls.clear()
        changed = project.collect()
        new_manifest = json.loads(project.storage().open("staticfiles.json").read())
    assert changed.command.copied_files == ["img/logo.png"]
    assert new_manifest["paths"]["css/site.css"] != hashed_css
    assert calls["PutObject"] == 4  # logo, hashed logo, hashed stylesheet, manifest
    assert calls["DeleteObject"] == 0


def test_manifest_is_not_written_when_an_upload_failed(static_project, s3_static):
    project = static_project(s3_static(MANIFEST))

    def refuse(params, **_):
        if params["Key"].startswith("img/logo."):
            raise ConnectionError("the network went away")

    with project.settings():
        project.storage().client.meta.events.register("before-parameter-build.s3.PutObject", refuse)
        with pytest.raises(CommandError, match="could not be stored"):
            project.collect()
        assert not project.storage().exists("staticfiles.json")
