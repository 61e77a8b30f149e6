"""collectstatic on Google Cloud Storage and Azure: one listing, unchanged files skipped,
including blobs uploaded in several parts (compared through the checksum recorded at upload)."""

from __future__ import annotations

import json

import pytest

from tests.commands.conftest import SOURCES

MiB = 1024 * 1024


@pytest.fixture(params=["gcloud", "azure"])
def entry(request):
    """The ``STORAGES["staticfiles"]`` factory of each backend in turn."""
    return request.getfixturevalue({"gcloud": "gcs_static", "azure": "azure_static"}[request.param])


def small_parts(entry):
    if "gcloud" in entry()["BACKEND"]:
        return {"blob_chunk_size": 256 * 1024}
    return {"client_options": {"max_block_size": MiB, "max_single_put_size": MiB}}


def test_rerun_skips_everything_with_one_listing(static_project, entry):
    project = static_project(entry())
    with project.settings():
        first = project.collect()
        storage = project.storage()
        stats = dict(storage.scan())
        again = project.collect()
    assert first.stats.copied == len(SOURCES)
    assert sorted(stats) == sorted(SOURCES)
    assert all(info.checksum for info in stats.values())
    assert again.stats.copied == 0 and again.stats.skipped == len(SOURCES)
    # The upload threads' own clients (GCS makes one per thread) are closed with them.
    assert len(storage._clients) <= 1


def test_changed_and_multipart_files(static_project, entry):
    project = static_project(entry(**small_parts(entry)))
    project.write("data/blocks.bin", bytes(range(256)) * (3 * MiB // 256))  # several parts
    with project.settings():
        project.collect()
        project.write("css/site.css", b"body { color: red; }\n")
        run = project.collect()
        with project.storage().open("css/site.css") as handle:
            assert handle.read() == b"body { color: red; }\n"
    assert run.command.copied_files == ["css/site.css"]
    assert run.stats.skipped == len(SOURCES)


def test_manifest_storage_rerun_uploads_nothing(static_project, entry):
    backend = entry()["BACKEND"]
    manifest_backend = f"tests.commands.manifests.{backend.rsplit('.', 1)[1]}Manifest"
    project = static_project(entry(manifest_backend))
    with project.settings():
        project.collect()
        manifest = json.loads(project.storage().open("staticfiles.json").read())
        again = project.collect()
    assert set(manifest["paths"]) == set(SOURCES)
    assert again.stats.copied == 0
    assert again.stats.skipped == 2 * len(SOURCES) + 1
