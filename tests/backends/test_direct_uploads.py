"""Direct browser uploads against the real local servers (moto, fake-gcs-server, Azurite).

Each test takes a grant from the storage, sends the file over HTTP exactly as the widget's
script does (``requests``, no SDK), then confirms the token and reads the object back through
the raw SDK. The emulators check less than the services do (moto checks no signature and no POST
policy, fake-gcs-server no signature and none of the XML API's conditions, a SAS cannot limit
size or type at all): where a service-side check cannot be seen here the test says so in its
skip reason, and a companion test proves the server-side check in ``confirm_direct_upload``
catches the same abuse.
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
import requests
from django.core import signing
from django.core.exceptions import SuspiciousFileOperation

from storages.direct import DirectUploadError

MiB = 1024 * 1024
#: Above this the grants go in parts; 12 MiB crosses two parts (S3's parts are at least 5 MiB).
THRESHOLD = 5 * MiB
LARGE = 12 * MiB + 17


@dataclass
class Sent:
    """What the service answered to the browser's requests."""

    statuses: list[int] = field(default_factory=list)

    @property
    def refused(self) -> bool:
        """Whether any request was refused (4xx)."""
        return any(400 <= status < 500 for status in self.statuses)


def _s3_send(grant: dict[str, Any], data: bytes, ctype: str | None, fields: dict[str, str]) -> Sent:
    sent = Sent()
    if grant["protocol"] == "s3-post":
        form = {**grant["fields"], **fields}
        if ctype:
            form["Content-Type"] = ctype
        response = requests.post(grant["url"], data=form, files={"file": ("f", data)}, timeout=60)
        sent.statuses.append(response.status_code)
        return sent
    size = grant["part_size"]
    for part in grant["parts"]:
        start = (part["number"] - 1) * size
        body = data[start : start + size] if part["number"] < len(grant["parts"]) else data[start:]
        sent.statuses.append(requests.put(part["url"], data=body, timeout=60).status_code)
    return sent


def _gcs_send(
    grant: dict[str, Any], data: bytes, ctype: str | None, fields: dict[str, str]
) -> Sent:
    sent = Sent()
    headers = dict(grant["headers"])
    if ctype:
        headers["Content-Type"] = ctype
    start = requests.post(grant["url"], headers=headers, timeout=60)
    sent.statuses.append(start.status_code)
    if start.status_code >= 300:
        return sent
    session = start.headers["Location"]
    chunk = grant["chunk_size"] or max(len(data), 1)
    offset = 0
    while True:
        body = data[offset : offset + chunk]
        end = offset + len(body)
        chunk_headers = {"Content-Type": ctype or grant["content_type"]}
        if data:
            chunk_headers["Content-Range"] = f"bytes {offset}-{end - 1}/{len(data)}"
        response = requests.put(session, data=body, headers=chunk_headers, timeout=60)
        sent.statuses.append(response.status_code)
        offset = end
        if response.status_code != 308 or offset >= len(data):
            return sent


def _azure_send(
    grant: dict[str, Any], data: bytes, ctype: str | None, fields: dict[str, str]
) -> Sent:
    sent = Sent()
    headers = dict(grant["headers"])
    if ctype:
        headers["x-ms-blob-content-type"] = ctype
    url = fields.get("url", grant["url"])
    if grant["protocol"] == "azure-blob":
        sent.statuses.append(requests.put(url, data=data, headers=headers, timeout=60).status_code)
        return sent
    size = grant["block_size"]
    ids = []
    for index, start in enumerate(range(0, max(len(data), 1), size)):
        block = base64.b64encode(f"{index:06d}".encode()).decode()
        ids.append(block)
        block_url = f"{url}&comp=block&blockid={quote(block, safe='')}"
        body = data[start : start + size]
        sent.statuses.append(requests.put(block_url, data=body, timeout=60).status_code)
    listing = "".join(f"<Latest>{block}</Latest>" for block in ids)
    xml = f'<?xml version="1.0" encoding="utf-8"?><BlockList>{listing}</BlockList>'
    response = requests.put(f"{url}&comp=blocklist", data=xml, headers=headers, timeout=60)
    sent.statuses.append(response.status_code)
    return sent


@dataclass
class Rig:
    """One backend: its storage, a browser-like sender, a raw reader, what its emulator checks."""

    id: str
    storage: Any
    send: Callable[[dict[str, Any], bytes, str | None, dict[str, str]], Sent]
    raw_read: Callable[[str], bytes | None]
    raw_type: Callable[[str], str]
    raw_put: Callable[[str, bytes], None]
    #: Builds another storage of this backend on the same bucket: ``make(**options)``.
    make: Callable[..., Any]
    #: What the emulator does not enforce (the reason a service-side test skips).
    gaps: dict[str, str] = field(default_factory=dict)

    def upload(
        self,
        data: bytes,
        name: str = "docs/report.bin",
        *,
        ctype: str | None = None,
        fields: dict[str, str] | None = None,
        **options: Any,
    ) -> tuple[dict[str, Any], Sent]:
        """Take a grant for ``data`` and send it like the browser would."""
        options.setdefault("max_size", 64 * MiB)
        options.setdefault("size", len(data))
        options.setdefault("multipart_threshold", THRESHOLD)
        options.setdefault("content_type", "application/octet-stream")
        grant = self.storage.direct_upload(name, **options)
        return grant, self.send(grant, data, ctype, fields or {})

    def skip_unless_enforced(self, check: str) -> None:
        """Skip a service-side test when this emulator does not make that check."""
        if check in self.gaps:
            pytest.skip(f"{self.id}: {self.gaps[check]}")


NOT_CHECKED_BY_MOTO = "moto checks neither POST policies nor signatures"
NOT_CHECKED_BY_FAKE_GCS = "fake-gcs-server ignores the XML API's conditions and signatures"


@pytest.fixture
def rig_s3(moto_server: Any, s3_bucket: str, s3_storage: Any) -> Rig:
    client = moto_server.client()
    storage = s3_storage(location="media")

    def raw_read(key: str) -> bytes | None:
        try:
            return bytes(client.get_object(Bucket=s3_bucket, Key=key)["Body"].read())
        except client.exceptions.NoSuchKey:
            return None

    return Rig(
        "s3",
        storage,
        _s3_send,
        raw_read,
        lambda key: str(client.head_object(Bucket=s3_bucket, Key=key)["ContentType"]),
        lambda key, data: client.put_object(Bucket=s3_bucket, Key=key, Body=data),
        s3_storage,
        gaps={
            "size": NOT_CHECKED_BY_MOTO + " (content-length-range)",
            "type": NOT_CHECKED_BY_MOTO + " (the Content-Type condition)",
            "key": NOT_CHECKED_BY_MOTO + " (the key condition)",
            "expiry": NOT_CHECKED_BY_MOTO + " (the policy's expiration)",
            "create_only": "a POST policy has no create-only condition on S3 itself; the "
            "random name is the guard",
        },
    )


@pytest.fixture
def rig_gcloud(gcs_server: Any, gcs_bucket: str) -> Rig:
    from storages.backends.gcloud import GoogleCloudStorage

    class EmulatorGcs(GoogleCloudStorage):
        # fake-gcs-server names a signed resumable upload after a "name" query parameter, not
        # after the URL's path as the service does; the service ignores the extra parameter.
        def _resumable_start_query(self, key: str) -> dict[str, str]:
            return {"name": key}

    client = gcs_server.client()
    bucket = client.bucket(gcs_bucket)
    storage = EmulatorGcs(**gcs_server.options(gcs_bucket, location="media"))

    def raw_read(key: str) -> bytes | None:
        blob = bucket.get_blob(key)
        return None if blob is None else bytes(blob.download_as_bytes(raw_download=True))

    return Rig(
        "gcloud",
        storage,
        _gcs_send,
        raw_read,
        lambda key: str(bucket.get_blob(key).content_type),
        lambda key, data: bucket.blob(key).upload_from_string(data),
        lambda **options: EmulatorGcs(**gcs_server.options(gcs_bucket, **options)),
        gaps={
            "size": NOT_CHECKED_BY_FAKE_GCS + " (x-goog-content-length-range)",
            "type": NOT_CHECKED_BY_FAKE_GCS + " (the signed Content-Type)",
            "key": NOT_CHECKED_BY_FAKE_GCS + " (the signed path)",
            "expiry": NOT_CHECKED_BY_FAKE_GCS + " (X-Goog-Expires)",
            "create_only": NOT_CHECKED_BY_FAKE_GCS + " (x-goog-if-generation-match)",
        },
    )


@pytest.fixture
def rig_azure(azurite: Any, azure_container: str, azure_storage: Any) -> Rig:
    service = azurite.client()
    container = service.get_container_client(azure_container)
    storage = azure_storage(location="media")

    def raw_read(key: str) -> bytes | None:
        blob = container.get_blob_client(key)
        return bytes(blob.download_blob().readall()) if blob.exists() else None

    return Rig(
        "azure",
        storage,
        _azure_send,
        raw_read,
        lambda key: str(
            container.get_blob_client(key).get_blob_properties().content_settings.content_type
        ),
        lambda key, data: container.upload_blob(key, data),
        azure_storage,
        gaps={
            "size": "a SAS cannot limit the size of a blob (Azure itself neither)",
            "type": "a SAS cannot limit the content type (Azure itself neither)",
        },
    )


@pytest.fixture(params=["s3", "gcloud", "azure"])
def rig(request: pytest.FixtureRequest) -> Rig:
    return request.getfixturevalue(f"rig_{request.param}")  # type: ignore[no-any-return]


def test_small_file_goes_in_one_request(rig: Rig) -> None:
    data = os.urandom(1000)
    grant, sent = rig.upload(data, "docs/report.pdf", content_type="application/pdf")
    assert grant["protocol"] in {"s3-post", "gcs-resumable", "azure-blob"}
    assert not sent.refused, sent.statuses
    name = rig.storage.confirm_direct_upload(grant["token"])
    assert name == grant["name"]
    assert rig.raw_read(rig.storage._key(name)) == data
    assert rig.raw_type(rig.storage._key(name)) == "application/pdf"
    assert rig.storage.size(name) == len(data)


def test_large_file_goes_in_parts(rig: Rig) -> None:
    data = os.urandom(LARGE)
    grant, sent = rig.upload(data, "video.mp4", content_type="video/mp4")
    assert grant["protocol"] in {"s3-multipart", "gcs-resumable", "azure-blocks"}
    # Every request but GCS's session start and Azure's block list carries a part.
    carrying = len(sent.statuses) - (grant["protocol"] != "s3-multipart")
    assert carrying >= 2, "the file was not cut into parts"
    assert not sent.refused, sent.statuses
    name = rig.storage.confirm_direct_upload(grant["token"])
    assert rig.raw_read(rig.storage._key(name)) == data
    assert rig.raw_type(rig.storage._key(name)) == "video/mp4"


def test_empty_file(rig: Rig) -> None:
    grant, sent = rig.upload(b"", "empty.txt", content_type="text/plain")
    assert not sent.refused, sent.statuses
    name = rig.storage.confirm_direct_upload(grant["token"])
    assert rig.raw_read(rig.storage._key(name)) == b""


def test_the_storage_chooses_a_free_name_under_location(rig: Rig) -> None:
    rig.storage.save("docs/report.bin", _content(b"existing"))
    first = rig.storage.direct_upload("docs/report.bin", max_size=10)
    second = rig.storage.direct_upload("docs/report.bin", max_size=10)
    for grant in (first, second):
        assert grant["key"] == "media/" + grant["name"]
        assert grant["name"].startswith("docs/report_") and grant["name"].endswith(".bin")
    # Two grants for one name at the same moment never share a key, and none is the old file.
    assert first["key"] != second["key"]
    assert rig.raw_read("media/docs/report.bin") == b"existing"


@pytest.mark.parametrize("name", ["../escape.txt", "/etc/passwd", "a/../../b.txt"])
def test_names_outside_location_are_refused(rig: Rig, name: str) -> None:
    with pytest.raises(SuspiciousFileOperation):
        rig.storage.direct_upload(name, max_size=10)


def test_declared_size_or_type_out_of_bounds_gets_no_grant(rig: Rig) -> None:
    with pytest.raises(DirectUploadError) as too_large:
        rig.storage.direct_upload("a.bin", max_size=10, size=11)
    assert too_large.value.code == "too_large"
    with pytest.raises(DirectUploadError) as bad_type:
        rig.storage.direct_upload("a.html", max_size=10, content_types=["image/*"])
    assert bad_type.value.code == "content_type"


def test_service_refuses_more_than_the_limit(rig: Rig) -> None:
    rig.skip_unless_enforced("size")
    _, sent = rig.upload(os.urandom(200), max_size=100, size=50)
    assert sent.refused


@pytest.mark.parametrize("size", [200, LARGE], ids=["one-request", "in-parts"])
def test_confirm_rejects_and_deletes_an_oversized_file(rig: Rig, size: int) -> None:
    # The browser declared a size within the limit and then sent more.
    data = os.urandom(size)
    grant, sent = rig.upload(data, max_size=size - 1, size=min(size - 1, THRESHOLD + 1))
    if sent.refused:
        assert rig.raw_read(grant["key"]) is None
        return
    with pytest.raises(DirectUploadError) as error:
        rig.storage.confirm_direct_upload(grant["token"])
    assert error.value.code in {"too_large", "missing"}
    assert rig.raw_read(grant["key"]) is None


def test_service_refuses_another_content_type(rig: Rig) -> None:
    rig.skip_unless_enforced("type")
    _, sent = rig.upload(b"<script>", "a.png", content_type="image/png", ctype="text/html")
    assert sent.refused


def test_confirm_rejects_and_deletes_another_content_type(rig: Rig) -> None:
    grant, sent = rig.upload(
        b"<script>", "a.png", content_type="image/png", ctype="text/html", content_types="image/*"
    )
    if sent.refused:
        assert rig.raw_read(grant["key"]) is None
        return
    with pytest.raises(DirectUploadError) as error:
        rig.storage.confirm_direct_upload(grant["token"])
    assert error.value.code == "content_type"
    assert rig.raw_read(grant["key"]) is None


def test_service_refuses_an_expired_grant(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    rig.skip_unless_enforced("expiry")
    from storages.backends import _azure_urls

    past = _azure_urls._now() - timedelta(hours=1)
    monkeypatch.setattr(_azure_urls, "_now", lambda: past)
    grant, sent = rig.upload(b"late", expires=60)
    assert sent.refused
    assert rig.raw_read(grant["key"]) is None


def test_service_refuses_another_key(rig: Rig) -> None:
    rig.skip_unless_enforced("key")
    grant = rig.storage.direct_upload("a.txt", max_size=10, content_type="text/plain")
    other = grant["url"].replace(quote(grant["key"]), "media/other.txt")
    sent = rig.send(grant, b"hello", None, {"url": other})
    assert sent.refused
    assert rig.raw_read("media/other.txt") is None


def test_confirm_ignores_an_object_stored_under_another_key(rig_s3: Rig) -> None:
    # moto stores a POST under whatever key the form says; the token still names our key.
    grant, _ = rig_s3.upload(b"hello", "a.txt", fields={"key": "media/elsewhere.txt"})
    assert rig_s3.raw_read("media/elsewhere.txt") == b"hello"
    with pytest.raises(DirectUploadError) as error:
        rig_s3.storage.confirm_direct_upload(grant["token"])
    assert error.value.code == "missing"


def test_grant_cannot_replace_an_existing_object(rig: Rig) -> None:
    rig.skip_unless_enforced("create_only")
    grant = rig.storage.direct_upload("a.txt", max_size=10, content_type="text/plain")
    rig.raw_put(grant["key"], b"someone else's")
    sent = rig.send(grant, b"mine", None, {})
    assert sent.refused
    assert rig.raw_read(grant["key"]) == b"someone else's"


def test_tampered_token_is_refused(rig: Rig) -> None:
    grant, _ = rig.upload(b"hello")
    payload, _, signature = grant["token"].rpartition(":")
    tampered = payload[:-1] + ("A" if payload[-1] != "A" else "B") + ":" + signature
    with pytest.raises(DirectUploadError) as error:
        rig.storage.confirm_direct_upload(tampered)
    assert error.value.code == "bad_token"
    # A token signed with another key naming our object is refused as well.
    forged = signing.dumps({"n": grant["name"], "m": 10**9}, key="guessed", salt="x")
    with pytest.raises(DirectUploadError):
        rig.storage.confirm_direct_upload(forged)


def test_expired_token_is_refused(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    grant, _ = rig.upload(b"hello")
    later = time.time() + 7 * 3600
    monkeypatch.setattr(signing.time, "time", lambda: later)
    with pytest.raises(DirectUploadError) as error:
        rig.storage.confirm_direct_upload(grant["token"])
    assert error.value.code == "expired"


def test_token_of_another_scope_or_storage_is_refused(rig: Rig) -> None:
    grant, _ = rig.upload(b"hello", scope="app.model.avatar")
    with pytest.raises(DirectUploadError) as wrong_scope:
        rig.storage.confirm_direct_upload(grant["token"], scope="app.model.cv")
    assert wrong_scope.value.code == "bad_token"
    assert rig.storage.confirm_direct_upload(grant["token"], scope="app.model.avatar")
    other = rig.make(location="elsewhere")
    with pytest.raises(DirectUploadError) as wrong_storage:
        other.confirm_direct_upload(grant["token"], scope="app.model.avatar")
    assert wrong_storage.value.code == "scope"


def test_confirm_before_upload_says_missing(rig: Rig) -> None:
    grant = rig.storage.direct_upload("a.txt", max_size=10, content_type="text/plain")
    with pytest.raises(DirectUploadError) as error:
        rig.storage.confirm_direct_upload(grant["token"])
    assert error.value.code == "missing"


def test_s3_multipart_is_completed_once_and_confirm_repeats(rig_s3: Rig) -> None:
    data = os.urandom(LARGE)
    grant, _ = rig_s3.upload(data)
    client = rig_s3.storage.client
    bucket = rig_s3.storage.bucket_name
    assert rig_s3.raw_read(grant["key"]) is None  # parts only, until the server completes
    assert rig_s3.storage.confirm_direct_upload(grant["token"]) == grant["name"]
    # The form may be submitted again (another field was invalid): same answer, same object.
    assert rig_s3.storage.confirm_direct_upload(grant["token"]) == grant["name"]
    assert rig_s3.raw_read(grant["key"]) == data
    assert not client.list_multipart_uploads(Bucket=bucket).get("Uploads")


def test_s3_oversized_parts_are_never_completed(rig_s3: Rig) -> None:
    data = os.urandom(LARGE)
    grant, _ = rig_s3.upload(data, max_size=LARGE - 1, size=THRESHOLD + 1)
    with pytest.raises(DirectUploadError):
        rig_s3.storage.confirm_direct_upload(grant["token"])
    client = rig_s3.storage.client
    assert not client.list_multipart_uploads(Bucket=rig_s3.storage.bucket_name).get("Uploads")
    assert rig_s3.raw_read(grant["key"]) is None


def test_s3_post_policy_pins_key_type_size_and_expiry(rig_s3: Rig) -> None:
    import json

    grant = rig_s3.storage.direct_upload(
        "a.png", max_size=1234, content_type="image/png", expires=120
    )
    fields = grant["fields"]
    policy = json.loads(base64.b64decode(fields["policy"]))
    conditions = policy["conditions"]
    assert ["eq", "$key", grant["key"]] in conditions
    assert ["eq", "$Content-Type", "image/png"] in conditions
    assert ["content-length-range", 0, 1234] in conditions
    assert {"bucket": rig_s3.storage.bucket_name} in conditions
    assert fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    # Every field the form sends is pinned by a condition (S3 refuses unlisted fields).
    pinned = {c[1][1:] for c in conditions if isinstance(c, list) and c[0] == "eq"}
    assert set(fields) - {"policy", "x-amz-signature"} == pinned


def test_s3_post_signature_is_botocore_sigv4(rig_s3: Rig) -> None:
    # moto checks no signature: botocore's own SigV4 signs the same policy for comparison.
    from botocore.auth import SigV4Auth
    from botocore.credentials import Credentials

    from tests.servers.s3 import KEY_ID, SECRET

    fields = rig_s3.storage.direct_upload("a.txt", max_size=10)["fields"]
    assert fields["x-amz-credential"].startswith(f"{KEY_ID}/")

    class Request:
        context = {"timestamp": fields["x-amz-date"]}

    auth = SigV4Auth(Credentials(KEY_ID, SECRET), "s3", "us-east-1")
    assert fields["x-amz-signature"] == auth.signature(fields["policy"], Request())


def test_gcs_start_url_signs_the_conditions(rig_gcloud: Rig) -> None:
    grant = rig_gcloud.storage.direct_upload("a.png", max_size=99, content_type="image/png")
    signed = grant["url"].split("X-Goog-SignedHeaders=")[1].split("&")[0]
    assert signed.split("%3B") == [
        "content-type",
        "host",
        "x-goog-content-length-range",
        "x-goog-if-generation-match",
        "x-goog-resumable",
    ]
    assert grant["headers"]["x-goog-content-length-range"] == "0,99"


def test_azure_sas_grants_create_only_for_one_request(rig_azure: Rig) -> None:
    small = rig_azure.storage.direct_upload("a.txt", max_size=10, size=5)
    large = rig_azure.storage.direct_upload(
        "b.txt", max_size=LARGE, size=LARGE, multipart_threshold=THRESHOLD
    )
    assert "sp=c&" in small["url"] and "sp=cw&" in large["url"]
    assert "sr=b" in small["url"]  # the SAS names one blob, not the container


def _content(data: bytes) -> Any:
    from django.core.files.base import ContentFile

    return ContentFile(data)
