"""Google Cloud Storage URLs: the V4 signer equals google-cloud-storage's byte for byte, the
public and custom-endpoint shapes, expiration forms, and signing through IAM signBlob.

fake-gcs-server serves objects at ``/<bucket>/<name>`` but checks no signatures, so fetching a
signed URL there proves its path and quoting; the signature itself is proven equal to the one the
google library computes for the same key, inputs and clock.
"""

from __future__ import annotations

import base64
import json
import urllib.parse
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.test import override_settings
from google.cloud.storage import _signing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storages.backends import _gcloud_urls
from storages.backends.gcloud import GoogleCloudStorage
from tests.servers.gcloud import SA_EMAIL, private_key_pem, service_account_credentials
from tests.servers.reference import fetch

FIXED = datetime(2026, 3, 14, 15, 9, 26, tzinfo=timezone.utc)
ODD_NAMES = [
    "some file+#?%.txt",
    "ünï/файл 1.txt",
    "emoji-🎉 (1).png",
    "a~b/c;d=e&f@g.txt",
    "100%/percent%20.txt",
]

SEGMENTS = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\\/\r\n"),
    min_size=1,
    max_size=20,
).filter(lambda s: s not in (".", ".."))
NAMES = st.lists(SEGMENTS, min_size=1, max_size=3).map("/".join)
SAFE_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=20)
HEADER_TEXT = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=20)
PARAMETERS = st.fixed_dictionaries(
    {},
    optional={
        "response_disposition": SAFE_TEXT.map(lambda s: f'attachment; filename="{s}"'),
        "response_type": st.sampled_from(["text/plain", "image/png; charset=x", "a/b c"]),
        "generation": st.integers(min_value=1, max_value=2**62),
        "method": st.sampled_from(["GET", "PUT", "HEAD", "DELETE", "RESUMABLE"]),
        "content_type": st.sampled_from(["text/plain", "application/json"]),
        "headers": st.dictionaries(
            st.sampled_from(["x-goog-meta-owner", "X-Goog-Meta-Tag", "Cache-Control"]),
            HEADER_TEXT.filter(str.strip),
            max_size=2,
        ),  # HTTP header values are ASCII
        "query_parameters": st.dictionaries(
            st.sampled_from(["userProject", "alt", "x-custom"]), SAFE_TEXT, max_size=2
        ),
        "expiration": st.one_of(
            st.integers(min_value=1, max_value=604800),
            st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=7)),
            st.timedeltas(min_value=timedelta(seconds=2), max_value=timedelta(days=6)).map(
                lambda d: FIXED + d
            ),
        ),
    },
)
ENDPOINTS = {
    "google": {},
    "emulator": None,  # filled in with the fake server's endpoint
    "custom-endpoint": {"custom_endpoint": "https://media.example.com"},
    "custom-endpoint-port-path": {"custom_endpoint": "http://127.0.0.1:8080/cdn"},
}


@pytest.fixture
def frozen_clock(monkeypatch):
    """Pin both clocks: ours and the one google-cloud-storage's signer reads."""
    monkeypatch.setattr(_signing, "_NOW", lambda tz=None: FIXED.astimezone(tz))
    monkeypatch.setattr(_gcloud_urls, "_now", lambda: FIXED)


def make_storage(gcs_server, bucket: str, config: str, **extra: Any) -> GoogleCloudStorage:
    options = gcs_server.options(bucket, **extra)
    if config != "emulator":
        del options["client_options"]
        options.update(ENDPOINTS[config] or {})
    return GoogleCloudStorage(**options)


def library_url(
    storage: GoogleCloudStorage, name: str, parameters: dict[str, Any], **overrides: Any
) -> str:
    """What google-cloud-storage's ``Blob.generate_signed_url`` gives for the same inputs."""
    options: dict[str, Any] = {
        "version": "v4",
        "expiration": storage.expiration,
        "credentials": storage.credentials,
        **parameters,
        **overrides,
    }
    if storage.custom_endpoint:
        options["bucket_bound_hostname"] = storage.custom_endpoint
    return storage.bucket.blob(storage._key(name)).generate_signed_url(**options)


def expires_of(url: str) -> int:
    return int(dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))["X-Goog-Expires"])


# -- equality with the google library ------------------------------------------------------


@pytest.mark.parametrize("config", list(ENDPOINTS))
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=NAMES, parameters=PARAMETERS)
def test_signed_url_equals_the_google_library(gcs_server, frozen_clock, config, name, parameters):
    storage = make_storage(gcs_server, "bucket-eq", config)
    ours = storage.url(name, parameters=dict(parameters))
    assert ours == library_url(storage, name, parameters)


@pytest.mark.parametrize("config", list(ENDPOINTS))
@pytest.mark.parametrize("name", ODD_NAMES)
def test_odd_names_sign_like_the_library(gcs_server, frozen_clock, config, name):
    storage = make_storage(gcs_server, "bucket-eq", config)
    assert storage.url(name) == library_url(storage, name, {})


def test_default_signed_url_shape(gcs_server, frozen_clock):
    storage = make_storage(gcs_server, "my-bucket", "google")
    url = storage.url("dir/some file+#?.txt")
    parts = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(parts.query))
    assert f"{parts.scheme}://{parts.netloc}" == "https://storage.googleapis.com"
    assert parts.path == "/my-bucket/dir/some%20file%2B%23%3F.txt"
    assert query["X-Goog-Algorithm"] == "GOOG4-RSA-SHA256"
    assert query["X-Goog-Credential"] == f"{SA_EMAIL}/20260314/auto/storage/goog4_request"
    assert query["X-Goog-Date"] == "20260314T150926Z"
    assert query["X-Goog-Expires"] == "86400"  # GS_EXPIRATION's default: one day
    assert query["X-Goog-SignedHeaders"] == "host"
    assert len(query["X-Goog-Signature"]) == 512  # hex of an RSA-2048 signature


# -- URLs served by the server -------------------------------------------------------------


@pytest.mark.parametrize("name", ODD_NAMES)
def test_signed_urls_of_odd_names_fetch_the_file(gcs_storage, name):
    storage = gcs_storage()
    storage.save(name, ContentFile(name.encode()))
    url = storage.url(name)
    assert "X-Goog-Signature=" in url
    assert urllib.parse.unquote(urllib.parse.urlsplit(url).path).endswith("/" + name)
    assert fetch(url) == name.encode()


@pytest.mark.parametrize("name", ODD_NAMES)
def test_public_urls_of_odd_names_fetch_the_file_and_equal_public_url(gcs_storage, name):
    storage = gcs_storage(querystring_auth=False)
    storage.save(name, ContentFile(b"public"))
    url = storage.url(name)
    assert url == storage.bucket.blob(name).public_url
    assert "?" not in url
    assert fetch(url) == b"public"


def test_querystring_auth_setting(gcs_storage):
    with override_settings(GS_QUERYSTRING_AUTH=False):
        storage = gcs_storage()
        storage.save("q.txt", ContentFile(b"q"))
        assert "X-Goog-Signature" not in storage.url("q.txt")
        assert fetch(storage.url("q.txt")) == b"q"
    assert "X-Goog-Signature" in storage.url("q.txt")  # back to the default: signed


def test_location_is_part_of_the_url(gcs_storage, gcs_bucket):
    storage = gcs_storage(location="media")
    storage.save("a b.txt", ContentFile(b"loc"))
    assert f"/{gcs_bucket}/media/a%20b.txt?" in storage.url("a b.txt")
    assert fetch(storage.url("a b.txt")) == b"loc"


# -- custom endpoint -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "endpoint,expected",
    [
        ("https://cdn.example.com", "https://cdn.example.com/dir/a%20b%2B.txt"),
        ("https://cdn.example.com/", "https://cdn.example.com/dir/a%20b%2B.txt"),
        ("cdn.example.com", "https://cdn.example.com/dir/a%20b%2B.txt"),
        ("http://127.0.0.1:9000/static", "http://127.0.0.1:9000/static/dir/a%20b%2B.txt"),
    ],
)
def test_custom_endpoint_public_urls(gcs_storage, endpoint, expected):
    storage = gcs_storage(custom_endpoint=endpoint, querystring_auth=False)
    assert storage.url("dir/a b+.txt") == expected


def test_custom_endpoint_serves_a_bucket_bound_path(gcs_server, gcs_storage, gcs_bucket):
    # The emulator's /<bucket> path plays the part of a bucket-bound host name.
    storage = gcs_storage(custom_domain=f"{gcs_server.endpoint}/{gcs_bucket}")
    storage.save("c d.txt", ContentFile(b"cdn"))
    url = storage.url("c d.txt")
    assert url.startswith(f"{gcs_server.endpoint}/{gcs_bucket}/c%20d.txt?X-Goog-Algorithm=")
    assert fetch(url) == b"cdn"


def test_custom_endpoint_setting_signs_for_that_host(gcs_server, frozen_clock):
    with override_settings(GS_CUSTOM_ENDPOINT="https://files.example.org"):
        storage = make_storage(gcs_server, "b", "google")
        url = storage.url("x.txt")
        assert url.startswith("https://files.example.org/x.txt?")
        assert url == library_url(storage, "x.txt", {})


def test_custom_endpoint_must_be_a_url(gcs_storage):
    with pytest.raises(ImproperlyConfigured, match="GS_CUSTOM_ENDPOINT"):
        gcs_storage(custom_endpoint="/")


# -- expiration ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expiration,seconds",
    [
        (timedelta(minutes=5), 300),
        (3600, 3600),
        (FIXED + timedelta(hours=2), 7200),
        ((FIXED + timedelta(hours=3)).replace(tzinfo=None), 10800),  # naive means UTC
        (timedelta(days=7), 604800),
    ],
)
def test_expiration_forms(gcs_storage, frozen_clock, expiration, seconds):
    storage = gcs_storage(expiration=expiration)
    url = storage.url("e.txt")
    assert expires_of(url) == seconds
    assert url == library_url(storage, "e.txt", {})


def test_expiration_setting_and_per_call_parameter(gcs_storage, frozen_clock):
    with override_settings(GS_EXPIRATION=timedelta(hours=6)):
        storage = gcs_storage()
        assert expires_of(storage.url("e.txt")) == 21600
        assert expires_of(storage.url("e.txt", parameters={"expiration": 60})) == 60


@pytest.mark.parametrize("bad", [timedelta(days=8), 0, -5, "3600", 1.5, True])
def test_invalid_expiration_is_refused_naming_the_setting(gcs_storage, bad):
    with pytest.raises(ImproperlyConfigured, match="GS_EXPIRATION"):
        gcs_storage(expiration=bad)


def test_expiration_deadline_in_the_past_is_refused(gcs_storage, frozen_clock):
    storage = gcs_storage(expiration=FIXED - timedelta(seconds=1))
    with pytest.raises(ValueError, match="expire"):
        storage.url("late.txt")


# -- credentials without a private key: IAM signBlob -----------------------------------------


class FakeIamSession:
    """Stands in for the IAM Credentials API (the only faked call): it signs like the service
    account's Google-held key would, using the test key."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def post(self, url: str, json: dict[str, Any], timeout: Any = None) -> Any:
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding

        self.calls.append((url, json))
        if self.status != 200:
            body = {"error": {"code": self.status, "message": "Permission denied on signBlob"}}
        else:
            key = serialization.load_pem_private_key(private_key_pem().encode(), password=None)
            signature = key.sign(
                base64.b64decode(json["payload"]), padding.PKCS1v15(), hashes.SHA256()
            )
            body = {"keyId": "test-key", "signedBlob": base64.b64encode(signature).decode()}
        return _Response(self.status, body, url)


class _Response:
    def __init__(self, status: int, body: dict[str, Any], url: str) -> None:
        self.status_code = status
        self.text = json.dumps(body)
        self.content = self.text.encode()
        self.headers = {"content-type": "application/json"}
        self.request = SimpleNamespace(method="POST", url=url)
        self.reason = "OK" if status == 200 else "Forbidden"
        self._body = body

    def json(self) -> dict[str, Any]:
        return self._body


class KeylessCredentials:
    """Credentials of a runtime with no private key (Cloud Run, GKE): they can authorize
    requests but cannot sign bytes."""

    def __new__(cls, email: str = "runtime@test-project.iam.gserviceaccount.com") -> Any:
        from google.auth.credentials import AnonymousCredentials

        credentials = AnonymousCredentials()
        credentials.service_account_email = email  # type: ignore[attr-defined]
        return credentials


def iam_storage(
    gcs_server, bucket: str, monkeypatch, session: FakeIamSession, **options: Any
) -> GoogleCloudStorage:
    storage = GoogleCloudStorage(**gcs_server.options(bucket, iam_sign_blob=True, **options))
    monkeypatch.setattr(storage, "_iam_session", lambda: session)
    return storage


def test_iam_sign_blob_equals_local_signing_with_the_same_key(
    gcs_server, gcs_bucket, frozen_clock, monkeypatch
):
    email = "signer@test-project.iam.gserviceaccount.com"
    session = FakeIamSession()
    storage = iam_storage(
        gcs_server,
        gcs_bucket,
        monkeypatch,
        session,
        credentials=KeylessCredentials(),
        sa_email=email,
    )
    storage.save("iam file.txt", ContentFile(b"iam"))
    url = storage.url("iam file.txt")
    reference = library_url(
        storage, "iam file.txt", {}, credentials=service_account_credentials(email)
    )
    assert url == reference
    assert fetch(url) == b"iam"
    ((call_url, payload),) = session.calls
    assert call_url == (
        f"https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/{email}:signBlob"
    )
    assert base64.b64decode(payload["payload"]).startswith(b"GOOG4-RSA-SHA256\n20260314T150926Z")


def test_iam_sign_blob_uses_the_credentials_email_by_default(
    gcs_server, gcs_bucket, frozen_clock, monkeypatch
):
    session = FakeIamSession()
    storage = iam_storage(
        gcs_server,
        gcs_bucket,
        monkeypatch,
        session,
        credentials=KeylessCredentials("runtime@p.iam.gserviceaccount.com"),
    )
    url = storage.url("x.txt")
    assert "X-Goog-Credential=runtime%40p.iam.gserviceaccount.com%2F20260314" in url
    assert session.calls[0][0].endswith("/runtime@p.iam.gserviceaccount.com:signBlob")


def test_iam_settings_from_django_settings(gcs_server, gcs_bucket, frozen_clock, monkeypatch):
    session = FakeIamSession()
    with override_settings(GS_IAM_SIGN_BLOB=True, GS_SA_EMAIL="set@p.iam.gserviceaccount.com"):
        options = gcs_server.options(gcs_bucket, credentials=KeylessCredentials())
        storage = GoogleCloudStorage(**options)
        monkeypatch.setattr(storage, "_iam_session", lambda: session)
        url = storage.url("s.txt")
    assert "X-Goog-Credential=set%40p.iam.gserviceaccount.com" in url
    assert len(session.calls) == 1


def test_iam_sign_blob_refusal_is_a_permission_error(gcs_server, gcs_bucket, monkeypatch):
    storage = iam_storage(
        gcs_server,
        gcs_bucket,
        monkeypatch,
        FakeIamSession(status=403),
        credentials=KeylessCredentials(),
    )
    with pytest.raises(PermissionError, match="signBlob"):
        storage.url("x.txt")


def test_iam_without_an_email_names_the_setting(gcs_server, gcs_bucket, monkeypatch):
    from google.auth.credentials import AnonymousCredentials

    storage = iam_storage(
        gcs_server, gcs_bucket, monkeypatch, FakeIamSession(), credentials=AnonymousCredentials()
    )
    with pytest.raises(ImproperlyConfigured, match="GS_SA_EMAIL"):
        storage.url("x.txt")


def test_keyless_credentials_without_iam_get_a_clear_error(gcs_storage):
    storage = gcs_storage(credentials=KeylessCredentials())
    storage.save("k.txt", ContentFile(b"k"))
    with pytest.raises(ImproperlyConfigured, match=r"GS_IAM_SIGN_BLOB.*GS_QUERYSTRING_AUTH"):
        storage.url("k.txt")
    assert (
        fetch(gcs_storage(credentials=KeylessCredentials(), querystring_auth=False).url("k.txt"))
        == b"k"
    )


# -- parameters the fast signer leaves to the library ----------------------------------------


def test_other_parameters_go_to_the_google_library(
    gcs_server, gcs_bucket, frozen_clock, monkeypatch
):
    monkeypatch.setattr(_signing, "NOW", lambda: FIXED.replace(tzinfo=None))
    storage = make_storage(gcs_server, gcs_bucket, "emulator")
    storage.save("v2.txt", ContentFile(b"v2"))
    parameters = {"version": "v2", "expiration": FIXED + timedelta(hours=1)}
    url = storage.url("v2.txt", parameters=parameters)
    assert "GoogleAccessId=" in url and "Signature=" in url
    assert url == library_url(storage, "v2.txt", parameters)
    assert fetch(url) == b"v2"
    hosted = storage.url("v2.txt", parameters={"virtual_hosted_style": True})
    assert hosted.startswith(f"http://{gcs_bucket}.127.0.0.1:")
