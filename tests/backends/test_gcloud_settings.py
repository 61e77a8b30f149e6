"""Each Google Cloud Storage setting, shown by its effect on the objects stored in the server."""

from __future__ import annotations

import gzip
import io
import warnings
from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from storages.backends.gcloud import GoogleCloudStorage
from tests.servers.gcloud import PROJECT, recording
from tests.servers.reference import fetch

KiB = 1024
MiB = 1024 * KiB


@pytest.fixture
def raw(gcs_server, gcs_bucket):
    """The raw view of the test bucket: object resources as the server reports them."""

    class Raw:
        client = gcs_server.client()
        bucket = gcs_bucket

        def obj(self, key):
            return gcs_server.object_json(gcs_bucket, key)

        def get(self, key):
            return self.client.bucket(gcs_bucket).blob(key).download_as_bytes(raw_download=True)

        def names(self):
            return sorted(b.name for b in self.client.list_blobs(gcs_bucket))

        def put(self, key, data):
            self.client.bucket(gcs_bucket).blob(key).upload_from_string(data)

    return Raw()


def acl_of(resource):
    return {(entry["entity"], entry["role"]) for entry in resource.get("acl", ())}


# -- where files go: bucket, location, project, credentials ---------------------------------


def test_bucket_name_setting_and_option(gcs_server, gcs_bucket, raw):
    options = gcs_server.options(gcs_bucket)
    del options["bucket_name"]
    with override_settings(GS_BUCKET_NAME=gcs_bucket):
        GoogleCloudStorage(**options).save("from-setting.txt", ContentFile(b"1"))
    GoogleCloudStorage(**options, bucket_name=gcs_bucket).save("from-option.txt", ContentFile(b"2"))
    assert raw.names() == ["from-option.txt", "from-setting.txt"]


def test_missing_bucket_name_is_reported_at_first_use(gcs_server):
    options = gcs_server.options("unused")
    del options["bucket_name"]
    storage = GoogleCloudStorage(**options)
    with pytest.raises(ImproperlyConfigured, match="GS_BUCKET_NAME"):
        storage.exists("a.txt")


def test_location_prefixes_every_key(gcs_storage, raw):
    storage = gcs_storage(location="media/uploads/")
    name = storage.save("a/b.txt", ContentFile(b"x"))
    assert name == "a/b.txt"
    assert raw.names() == ["media/uploads/a/b.txt"]
    assert storage.listdir("a") == ([], ["b.txt"])
    with override_settings(GS_LOCATION="static"):
        gcs_storage().save("c.css", ContentFile(b"c"))
    assert "static/c.css" in raw.names()


def test_location_must_be_relative(gcs_storage):
    with pytest.raises(ImproperlyConfigured, match="GS_LOCATION"):
        gcs_storage(location="/abs")


def test_project_id_reaches_the_client_and_bucket_creation(gcs_server, gcs_bucket, raw):
    options = gcs_server.options(gcs_bucket)
    del options["project_id"]
    with override_settings(GS_PROJECT_ID="other-project"):
        storage = GoogleCloudStorage(**options)
        assert storage.client.project == "other-project"
    storage = GoogleCloudStorage(**options, project_id=PROJECT)
    assert storage.client.project == PROJECT
    storage.save("p.txt", ContentFile(b"p"))
    assert raw.get("p.txt") == b"p"
    # The project is what a bucket created on first use belongs to (sent with the request;
    # fake-gcs-server does not keep it).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        creator = recording(GoogleCloudStorage)(
            **gcs_server.options(
                f"{gcs_bucket}-p", project_id="another-project", auto_create_bucket=True
            )
        )
    creator.exists("x")
    assert any(
        "project=another-project" in u for m, u, _ in creator.session.requests if m == "POST"
    )


def test_credentials_authorize_requests_and_sign_urls(gcs_server, gcs_bucket, raw):
    from tests.servers.gcloud import service_account_credentials

    other = service_account_credentials("someone-else@test-project.iam.gserviceaccount.com")
    other.token = "other-token"
    storage = recording(GoogleCloudStorage)(**gcs_server.options(gcs_bucket, credentials=other))
    storage.save("c.txt", ContentFile(b"c"))
    assert raw.get("c.txt") == b"c"
    assert storage.session.sent_headers[-1]["authorization"] == "Bearer other-token"
    assert "X-Goog-Credential=someone-else%40test-project" in storage.url("c.txt")
    with override_settings(GS_CREDENTIALS=other):
        options = gcs_server.options(gcs_bucket)
        del options["credentials"]
        assert "someone-else%40" in GoogleCloudStorage(**options).url("c.txt")


def test_without_credentials_the_error_names_the_setting(
    gcs_server, gcs_bucket, monkeypatch, tmp_path
):
    from google.auth.compute_engine import _metadata

    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))
    monkeypatch.setattr(_metadata, "_NO_GCE_CHECK", True)  # no metadata server here
    options = gcs_server.options(gcs_bucket)
    del options["credentials"]
    storage = GoogleCloudStorage(**options)
    with pytest.raises(ImproperlyConfigured, match="GS_CREDENTIALS"):
        storage.exists("x")


def test_credentials_are_secret(gcs_storage):
    storage = gcs_storage()
    assert "credentials" not in storage.deconstruct()[2]
    assert "Credentials" not in repr(storage)


# -- what is stored: object parameters, ACLs, content types, gzip -----------------------------


def test_object_parameters_are_stored(gcs_storage, raw):
    storage = gcs_storage(
        object_parameters={
            "cache_control": "public, max-age=86400",
            "content_disposition": "attachment; filename=report.pdf",
            "content_language": "de",
            "metadata": {"owner": "team-a"},
            "storage_class": "NEARLINE",
        }
    )
    storage.save("p.pdf", ContentFile(b"%PDF"))
    stored = raw.obj("p.pdf")
    assert stored["cacheControl"] == "public, max-age=86400"
    assert stored["contentDisposition"] == "attachment; filename=report.pdf"
    assert stored["contentLanguage"] == "de"
    assert stored["metadata"] == {"owner": "team-a"}
    assert stored["storageClass"] == "NEARLINE"
    assert stored["contentType"] == "application/pdf"


def test_object_parameters_apply_to_chunked_writes_too(gcs_storage, raw):
    storage = gcs_storage(
        blob_chunk_size=256 * KiB,
        object_parameters={"cache_control": "no-store", "metadata": {"a": "1"}},
    )
    storage.save("big.bin", ContentFile(b"z" * (600 * KiB)))
    with storage.open("written.txt", "wb") as handle:
        handle.write(b"y" * (300 * KiB))
    for key in ("big.bin", "written.txt"):
        stored = raw.obj(key)
        assert stored["cacheControl"] == "no-store"
        assert stored["metadata"] == {"a": "1"}
    assert raw.obj("written.txt")["contentType"] == "text/plain"


def test_object_parameters_from_settings_and_content_type_override(gcs_storage, raw):
    with override_settings(GS_OBJECT_PARAMETERS={"content_type": "text/x-special"}):
        gcs_storage().save("a.txt", ContentFile(b"a"))
    assert raw.obj("a.txt")["contentType"] == "text/x-special"


def test_get_object_parameters_hook_varies_per_file(gcs_storage, raw):
    class PerFile(GoogleCloudStorage):
        def get_object_parameters(self, name):
            return {"cache_control": "no-cache" if name.endswith(".html") else "max-age=60"}

    storage = gcs_storage(PerFile)
    storage.save("a.html", ContentFile(b"<p>"))
    storage.save("a.css", ContentFile(b"p{}"))
    assert raw.obj("a.html")["cacheControl"] == "no-cache"
    assert raw.obj("a.css")["cacheControl"] == "max-age=60"


def test_unknown_object_parameter_is_refused(gcs_storage):
    with pytest.raises(ImproperlyConfigured, match=r"GS_OBJECT_PARAMETERS.*cachecontrol"):
        gcs_storage(object_parameters={"cachecontrol": "x"})


def test_content_type_is_guessed_or_taken_from_the_upload(gcs_storage, raw):
    storage = gcs_storage()
    storage.save("a.json", ContentFile(b"{}"))
    storage.save("upload.bin", SimpleUploadedFile("x", b"\x89PNG", content_type="image/png"))
    storage.save("noext", ContentFile(b"?"))
    assert raw.obj("a.json")["contentType"] == "application/json"
    assert raw.obj("upload.bin")["contentType"] == "image/png"
    assert raw.obj("noext")["contentType"] == "application/octet-stream"


def test_content_type_and_encoding_follow_the_shared_rule(gcs_storage, raw):
    # The name's guess gives an encoding too: an archive compressed with gzip is served as
    # such, not as an opaque body. An unknown extension gets the default content type.
    payload = gzip.compress(b"tar bytes", mtime=0)
    storage = gcs_storage()
    storage.save("backup.tar.gz", ContentFile(payload))
    storage.save("data.unknownext", ContentFile(b"?"))
    with storage.open("written.tar.gz", "wb") as handle:
        handle.write(payload)
    bucket = raw.client.bucket(raw.bucket)
    for key in ("backup.tar.gz", "written.tar.gz"):
        blob = bucket.get_blob(key)
        assert (blob.content_type, blob.content_encoding) == ("application/x-tar", "gzip")
        assert blob.download_as_bytes(raw_download=True) == payload
    unknown = bucket.get_blob("data.unknownext")
    assert unknown.content_type == "application/octet-stream"
    assert unknown.content_encoding is None
    assert storage.open("backup.tar.gz").read() == payload  # stored as given, not unpacked


def test_default_acl_none_keeps_the_bucket_default(gcs_storage, raw):
    gcs_storage().save("private.txt", ContentFile(b"p"))
    assert ("allUsers", "READER") not in acl_of(raw.obj("private.txt"))


@pytest.mark.parametrize("spelling", ["publicRead", "public-read"])
def test_default_acl_public_read_is_stored_and_gives_a_plain_url(gcs_storage, raw, spelling):
    storage = gcs_storage(default_acl=spelling)
    storage.save("public file.txt", ContentFile(b"open"))
    assert ("allUsers", "READER") in acl_of(raw.obj("public file.txt"))
    url = storage.url("public file.txt")
    assert "X-Goog-Signature" not in url
    assert url.endswith(f"/{raw.bucket}/public%20file.txt")
    assert fetch(url) == b"open"


def test_default_acl_applies_to_chunked_and_streamed_writes(gcs_storage, raw):
    storage = gcs_storage(default_acl="publicRead", blob_chunk_size=256 * KiB)
    storage.save("chunked.bin", ContentFile(b"c" * (700 * KiB)))
    with storage.open("streamed.bin", "wb") as handle:
        handle.write(b"s" * (300 * KiB))
    with storage.open("one-part.bin", "wb") as handle:
        handle.write(b"o")
    for key in ("chunked.bin", "streamed.bin", "one-part.bin"):
        assert ("allUsers", "READER") in acl_of(raw.obj(key)), key


def test_acl_in_object_parameters_wins_over_default_acl(gcs_storage, raw):
    storage = gcs_storage(default_acl="projectPrivate", object_parameters={"acl": "publicRead"})
    storage.save("o.txt", ContentFile(b"o"))
    assert ("allUsers", "READER") in acl_of(raw.obj("o.txt"))
    assert "X-Goog-Signature" not in storage.url("o.txt")


def test_unknown_acl_is_refused_naming_the_setting(gcs_storage):
    with pytest.raises(ImproperlyConfigured, match="GS_DEFAULT_ACL"):
        gcs_storage(default_acl="world-writable")


def test_gzip_compresses_listed_types_and_reads_back_plain(gcs_storage, raw):
    css = b".a { color: red; }\n" * 500
    storage = gcs_storage(gzip=True)
    storage.save("style.css", ContentFile(css))
    storage.save("data.bin", ContentFile(css))
    stored = raw.obj("style.css")
    assert stored["contentEncoding"] == "gzip"
    assert stored["contentType"] == "text/css"
    assert gzip.decompress(raw.get("style.css")) == css
    assert int(stored["size"]) < len(css)
    assert raw.obj("data.bin").get("contentEncoding", "") == ""
    assert raw.get("data.bin") == css
    assert storage.open("style.css").read() == css


def test_gzip_is_deterministic_and_streams_chunked(gcs_storage, raw):
    css = b"".join(b".c%d { margin: %dpx; }\n" % (i, i) for i in range(60_000))
    storage = gcs_storage(gzip=True, blob_chunk_size=256 * KiB)
    storage.save("a.css", ContentFile(css))
    storage.save("b.css", ContentFile(css))
    assert raw.obj("a.css")["crc32c"] == raw.obj("b.css")["crc32c"]
    assert gzip.decompress(raw.get("a.css")) == css
    assert int(raw.obj("a.css")["size"]) > 256 * KiB  # more than one chunk was sent


def test_gzip_content_types_setting(gcs_storage, raw):
    with override_settings(GS_IS_GZIPPED=True, GZIP_CONTENT_TYPES=("application/json",)):
        storage = gcs_storage()
        storage.save("a.json", ContentFile(b'{"k": 1}' * 100))
        storage.save("a.css", ContentFile(b"p {}" * 100))
    assert raw.obj("a.json")["contentEncoding"] == "gzip"
    assert raw.obj("a.css").get("contentEncoding", "") == ""


def test_gzip_keeps_an_explicit_content_encoding(gcs_storage, raw):
    already = gzip.compress(b"body { }", mtime=0)
    storage = gcs_storage(gzip=True, object_parameters={"content_encoding": "gzip"})
    storage.save("pre.css", ContentFile(already))
    assert raw.get("pre.css") == already  # not compressed a second time


# -- overwrite policy ---------------------------------------------------------------------


def test_file_overwrite_defaults_to_true(gcs_storage, raw):
    storage = gcs_storage()
    assert storage.save("same.txt", ContentFile(b"1")) == "same.txt"
    assert storage.save("same.txt", ContentFile(b"2")) == "same.txt"
    assert raw.names() == ["same.txt"]
    assert raw.get("same.txt") == b"2"


@pytest.mark.parametrize("how", ["option", "setting"])
def test_file_overwrite_false_picks_a_new_name(gcs_storage, raw, how):
    with override_settings(**({"GS_FILE_OVERWRITE": False} if how == "setting" else {})):
        storage = gcs_storage(**({"file_overwrite": False} if how == "option" else {}))
        storage.save("same.txt", ContentFile(b"1"))
        second = storage.save("same.txt", ContentFile(b"2"))
    assert second != "same.txt" and second.startswith("same_")
    assert raw.get("same.txt") == b"1"
    assert raw.get(second) == b"2"


def test_max_memory_size_bounds_the_replay_spool_of_a_retried_stream(gcs_storage, raw):
    """A create-only save that loses a race replays a non-seekable body from its spool."""

    class Racing(GoogleCloudStorage):
        lied = False

        def is_name_available(self, name, max_length=None):
            if not type(self).lied:
                type(self).lied = True
                return True  # as if another process stored the name right after our check
            return super().is_name_available(name, max_length)

    raw.put("taken.bin", b"theirs")
    storage = gcs_storage(Racing, file_overwrite=False, max_memory_size=1024)
    assert storage.max_memory_size == 1024
    body = b"ours-" * 1000
    pipe = io.BufferedReader(io.BytesIO(body))
    pipe.seekable = lambda: False  # type: ignore[method-assign]
    name = storage.save("taken.bin", File(pipe, name="taken.bin"))
    assert name != "taken.bin"
    assert raw.get("taken.bin") == b"theirs"
    assert raw.get(name) == body


def test_blob_chunk_size_sends_chunks_of_that_size(gcs_storage, raw):
    storage = gcs_storage(recording(GoogleCloudStorage), blob_chunk_size=256 * KiB)
    data = bytes(range(256)) * (3 * KiB + 7)  # 3 chunks and a bit
    storage.save("chunked.bin", ContentFile(data))
    puts = [h for m, u, h in storage.session.requests if m == "PUT" and "upload_id" in u]
    assert [h["Content-Range"].split("/")[0] for h in puts] == [
        "bytes 0-262143",
        "bytes 262144-524287",
        "bytes 524288-786431",
        f"bytes 786432-{len(data) - 1}",
    ]
    assert raw.get("chunked.bin") == data


@pytest.mark.parametrize("bad", [100_000, 256 * KiB + 1, 0, -262144, "1MB"])
def test_blob_chunk_size_must_be_a_multiple_of_256_kib(gcs_storage, bad):
    with pytest.raises(ImproperlyConfigured, match=r"GS_BLOB_CHUNK_SIZE.*256 KiB"):
        gcs_storage(blob_chunk_size=bad)


def test_blob_chunk_size_setting_is_read(gcs_storage, raw):
    with override_settings(GS_BLOB_CHUNK_SIZE=512 * KiB):
        storage = gcs_storage(recording(GoogleCloudStorage))
        storage.save("two.bin", ContentFile(b"2" * (MiB + 10)))
    assert storage.session.count("PUT", "upload_id") == 3
    assert raw.get("two.bin") == b"2" * (MiB + 10)


# -- settings 1.9.1 documented that later releases removed -----------------------------------


def test_cache_control_setting_warns_and_is_stored(gcs_storage, raw):
    with (
        override_settings(GS_CACHE_CONTROL="max-age=42"),
        pytest.warns(DeprecationWarning, match=r"GS_CACHE_CONTROL.*GS_OBJECT_PARAMETERS"),
    ):
        storage = gcs_storage()
    storage.save("c.txt", ContentFile(b"c"))
    assert raw.obj("c.txt")["cacheControl"] == "max-age=42"


def test_cache_control_option_warns_and_object_parameters_win(gcs_storage, raw):
    with pytest.warns(DeprecationWarning, match="cache_control"):
        storage = gcs_storage(
            cache_control="max-age=1", object_parameters={"cache_control": "no-store"}
        )
    storage.save("c.txt", ContentFile(b"c"))
    assert raw.obj("c.txt")["cacheControl"] == "no-store"


def test_auto_create_bucket_creates_it_on_first_use(gcs_server, raw):
    import uuid

    name = f"auto-{uuid.uuid4().hex[:10]}"
    with override_settings(GS_AUTO_CREATE_BUCKET=True, GS_AUTO_CREATE_ACL="publicRead"):
        with pytest.warns(DeprecationWarning) as caught:
            storage = recording(GoogleCloudStorage)(**gcs_server.options(name))
        assert {str(w.message).split(" ")[0] for w in caught} == {
            "GS_AUTO_CREATE_BUCKET",
            "GS_AUTO_CREATE_ACL",
        }
        assert raw.client.lookup_bucket(name) is None
        storage.save("first.txt", ContentFile(b"1"))
    assert raw.client.lookup_bucket(name) is not None
    # fake-gcs-server keeps neither a bucket's ACL nor its project: check what was asked for.
    (create,) = [
        u
        for m, u, _ in storage.session.requests
        if m == "POST" and u.split("?")[0].endswith("/storage/v1/b")
    ]
    assert "predefinedAcl=publicRead" in create and f"project={PROJECT}" in create
    assert raw.client.bucket(name).blob("first.txt").download_as_bytes() == b"1"
    # A second storage finds the bucket there and leaves it alone.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        GoogleCloudStorage(**gcs_server.options(name, auto_create_bucket=True)).save(
            "second.txt", ContentFile(b"2")
        )
    assert sorted(b.name for b in raw.client.list_blobs(name)) == ["first.txt", "second.txt"]


def test_auto_create_bucket_off_by_default(gcs_server, raw):
    storage = GoogleCloudStorage(**gcs_server.options("never-created"))
    with pytest.raises(FileNotFoundError):
        storage.save("x.txt", ContentFile(b"x"))
    assert raw.client.lookup_bucket("never-created") is None


@pytest.mark.parametrize("setting", ["GS_FILE_NAME_CHARSET", "GS_FILE_CHARSET"])
def test_file_name_charset_warns_and_names_stay_utf8(gcs_storage, raw, setting):
    with (
        override_settings(**{setting: "utf-8"}),
        pytest.warns(DeprecationWarning, match=f"{setting}.*UTF-8"),
    ):
        storage = gcs_storage()
    storage.save("ünï/файл.txt", ContentFile(b"u"))
    assert raw.names() == ["ünï/файл.txt"]


def test_file_name_charset_must_be_a_charset(gcs_storage):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with pytest.raises(ImproperlyConfigured, match="GS_FILE_NAME_CHARSET"):
            gcs_storage(file_name_charset="no-such-charset")


# -- settings resolution -------------------------------------------------------------------


def test_unknown_option_lists_the_valid_ones(gcs_storage):
    with pytest.raises(ImproperlyConfigured, match=r"blob_chunk_size.*custom_endpoint"):
        gcs_storage(chunk_size=1)


def test_uniform_option_names_are_accepted(gcs_storage, raw):
    storage = gcs_storage(
        custom_domain="cdn.example.com",
        max_memory_size=10,
        location="u",
        object_parameters={},
        file_overwrite=False,
    )
    assert storage.custom_endpoint == "https://cdn.example.com"
    storage.save("a.txt", ContentFile(b"a"))
    assert raw.names() == ["u/a.txt"]


def test_override_settings_reaches_a_live_storage(gcs_storage, raw):
    storage = gcs_storage()
    with override_settings(GS_DEFAULT_ACL="publicRead", GS_EXPIRATION=timedelta(hours=1)):
        storage.save("live.txt", ContentFile(b"l"))
    assert ("allUsers", "READER") in acl_of(raw.obj("live.txt"))
