"""Azure URLs: plain, SAS (account key and user-delegation key), custom domain; each fetched
from Azurite, which refuses a private blob without a valid SAS."""

from __future__ import annotations

import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from hypothesis import given, settings
from hypothesis import strategies as st

from storages.backends import _azure_urls
from storages.backends.azure_storage import AzureStorage
from tests.servers.azure import ACCOUNT, KEY, OBJECT_ID, TENANT, FakeTokenCredential, recorder
from tests.servers.reference import fetch


def status(url: str, method: str = "GET", data: bytes | None = None, headers=None) -> int:
    request = urllib.request.Request(url, method=method, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


@pytest.fixture
def pinned_clock(monkeypatch):
    moment = datetime.now(timezone.utc).replace(microsecond=0)
    monkeypatch.setattr(_azure_urls, "_now", lambda: moment)
    return moment


def test_plain_url_of_a_private_container_is_refused(azure_storage):
    storage = azure_storage()
    assert storage.expiration_secs is None
    storage.save("private.txt", ContentFile(b"secret"))
    url = storage.url("private.txt")
    assert "?" not in url
    assert status(url) in (403, 404)


def test_plain_url_of_a_public_container_is_served(azurite):
    from storages.backends.azure_storage import AzureStorage as Storage

    client = azurite.client()
    client.create_container("public-media", public_access="blob")
    try:
        storage = Storage(**azurite.options("public-media"))
        storage.save("dir/pub lic+é.txt", ContentFile(b"for everyone"))
        url = storage.url("dir/pub lic+é.txt")
        assert url == (f"{azurite.endpoint}/public-media/dir/pub%20lic%2B%C3%A9.txt")
        assert fetch(url) == b"for everyone"
    finally:
        client.delete_container("public-media")


def test_sas_url_is_served_and_expires(azure_storage, pinned_clock):
    storage = azure_storage(expiration_secs=120)
    storage.save("signed.txt", ContentFile(b"signed body"))
    url = storage.url("signed.txt")
    params = query(url)
    assert params["sp"] == "r"
    assert params["sr"] == "b"
    expiry = datetime.strptime(params["se"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    assert expiry == pinned_clock + timedelta(seconds=120)
    assert fetch(url) == b"signed body"
    # Tampered, or stripped of its SAS: refused.
    assert status(url.replace("sig=", "sig=AAAA")) == 403
    assert status(url.split("?")[0]) in (403, 404)


def test_expired_sas_url_is_refused(azure_storage, monkeypatch):
    storage = azure_storage(expiration_secs=60)
    storage.save("old.txt", ContentFile(b"old"))
    past = datetime.now(timezone.utc) - timedelta(hours=1)
    monkeypatch.setattr(_azure_urls, "_now", lambda: past)
    assert status(storage.url("old.txt")) == 403


def test_expire_argument_overrides_the_setting(azure_storage, pinned_clock):
    storage = azure_storage()
    storage.save("e.txt", ContentFile(b"e"))
    for expire in (30, timedelta(seconds=30)):
        url = storage.url("e.txt", expire=expire)
        assert query(url)["se"] == (pinned_clock + timedelta(seconds=30)).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
        assert fetch(url) == b"e"
    with pytest.raises(ValueError):
        storage.url("e.txt", expire=0)


def test_sas_equals_the_sdk_generate_blob_sas(azure_storage, azure_container, pinned_clock):
    from azure.storage.blob import generate_blob_sas

    storage = azure_storage(expiration_secs=600, location="loc")
    name = "dir/ünï code+#?.txt"
    expected = generate_blob_sas(
        ACCOUNT,
        azure_container,
        f"loc/{name}",
        account_key=KEY,
        permission="r",
        expiry=pinned_clock + timedelta(seconds=600),
        content_disposition="inline",
    )
    url = storage.url(name, parameters={"content_disposition": "inline"})
    assert url.split("?", 1)[1] == expected


def test_parameters_override_response_headers(azure_storage):
    storage = azure_storage(expiration_secs=60)
    storage.save("report.bin", ContentFile(b"report"))
    url = storage.url(
        "report.bin",
        parameters={
            "content_disposition": 'attachment; filename="r.txt"',
            "content_type": "text/plain",
            "cache_control": "no-store",
        },
    )
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.read() == b"report"
        assert response.headers["Content-Disposition"] == 'attachment; filename="r.txt"'
        assert response.headers["Content-Type"] == "text/plain"
        assert response.headers["Cache-Control"] == "no-store"


def test_mode_w_gives_an_upload_url(azure_storage, raw_container):
    storage = azure_storage(expiration_secs=60)
    upload = storage.url("direct/upload.txt", mode="cw")
    assert query(upload)["sp"] == "cw"
    headers = {"x-ms-blob-type": "BlockBlob"}
    assert status(upload, "PUT", b"from the browser", headers) == 201
    assert raw_container.download_blob("direct/upload.txt").readall() == b"from the browser"
    read_only = storage.url("direct/other.txt")
    assert status(read_only, "PUT", b"nope", headers) == 403
    assert not raw_container.get_blob_client("direct/other.txt").exists()


def test_urls_need_no_request(azure_storage):
    probe = recorder()
    storage = azure_storage(client_options={"transport": probe})
    storage.url("a.txt")
    storage.url("a.txt", expire=60)
    assert probe.requests == []


def test_custom_domain_replaces_the_host(azurite, azure_container, localhost_subdomains):
    host = f"{ACCOUNT}.blob.localhost:{azurite.port}"
    storage = AzureStorage(**azurite.options(azure_container, custom_domain=host, azure_ssl=False))
    storage.save("cdn/file one.txt", ContentFile(b"via cdn"))
    plain = storage.url("cdn/file one.txt")
    assert plain == f"http://{host}/{azure_container}/cdn/file%20one.txt"
    assert status(plain) in (403, 404)  # still a private container
    signed = storage.url("cdn/file one.txt", expire=60)
    assert signed.startswith(plain + "?")
    assert fetch(signed) == b"via cdn"
    # Requests still go to the account endpoint: the custom domain is for URLs only.
    assert storage.container_client.url.startswith(azurite.endpoint)


def test_custom_domain_is_https_by_default():
    storage = AzureStorage(
        account_name="acct",
        azure_container="media",
        custom_domain="https://cdn.example.com/",
    )
    assert storage.url("a.txt") == "https://cdn.example.com/media/a.txt"


def test_no_signing_identity_is_a_clear_error(azurite, azure_container):
    from azure.storage.blob import generate_container_sas

    token = generate_container_sas(
        ACCOUNT,
        azure_container,
        account_key=KEY,
        permission="rw",
        expiry=datetime.now(timezone.utc) + timedelta(hours=1),
    )
    with pytest.warns(DeprecationWarning):
        storage = AzureStorage(
            is_emulated=True,
            custom_domain=f"127.0.0.1:{azurite.port}",
            sas_token=token,
            azure_container=azure_container,
        )
    plain = storage.url("x.txt")
    assert "sig=" not in plain  # the configured token is never handed out
    with pytest.raises(ImproperlyConfigured, match="AZURE_ACCOUNT_KEY"):
        storage.url("x.txt", expire=60)


@pytest.fixture
def raw_container(azurite, azure_container):
    client = azurite.client()
    yield client.get_container_client(azure_container)
    client.close()


# -- user-delegation SAS (token credential) --------------------------------------------------


@pytest.fixture
def token_storage(azurite_tls, localhost_subdomains):
    client = azurite_tls.client()
    client.create_container("udk-container")
    probe = recorder(connection_verify=azurite_tls.ca_file)
    storage = AzureStorage(
        account_name=ACCOUNT,
        endpoint_suffix=f"localhost:{azurite_tls.port}",
        azure_container="udk-container",
        token_credential=FakeTokenCredential(),
        expiration_secs=300,
        client_options={"transport": probe},
    )
    storage.probe = probe
    yield storage
    storage.close()
    client.delete_container("udk-container")
    client.close()


def test_user_delegation_key_signs_urls(token_storage, pinned_clock):
    """The key comes from Azurite (over HTTPS with a bearer token); the SAS is the SDK's.

    Azurite 3.35 checks user-delegation signatures only up to SAS version 2025-07-05, while the
    SDK signs with a newer version (extra fields in the string to sign), so the URL is checked
    field by field and against ``generate_blob_sas`` rather than fetched.
    """
    from azure.storage.blob import generate_blob_sas

    token_storage.save("udk.txt", ContentFile(b"delegated"))
    first = token_storage.url("udk.txt")
    second = token_storage.url("other.txt", expire=60)
    assert token_storage.probe.count("POST", "comp=userdelegationkey") == 1
    params = query(first)
    assert params["skoid"] == OBJECT_ID
    assert params["sktid"] == TENANT
    assert params["sks"] == "b"
    key_expiry = datetime.strptime(params["ske"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    assert key_expiry > pinned_clock + timedelta(days=6)
    key = token_storage._delegation_key
    expected = generate_blob_sas(
        ACCOUNT,
        "udk-container",
        "udk.txt",
        user_delegation_key=key,
        permission="r",
        expiry=pinned_clock + timedelta(seconds=300),
    )
    assert first.split("?", 1)[1] == expected
    assert query(second)["skoid"] == OBJECT_ID


def test_user_delegation_key_is_renewed_when_too_short(token_storage, pinned_clock):
    token_storage.url("a.txt")
    token_storage._delegation_key.signed_expiry = (pinned_clock + timedelta(seconds=10)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    token_storage.url("a.txt")
    assert token_storage.probe.count("POST", "comp=userdelegationkey") == 2
    with pytest.raises(ValueError, match="7 days"):
        token_storage.url("a.txt", expire=timedelta(days=8))


def test_user_delegation_key_at_the_client_seam():
    """Without a server: an injected key is what signs (``get_user_delegation_key`` is the
    seam, as in django-storages), and the account name comes from the settings."""
    from azure.storage.blob import UserDelegationKey

    key = UserDelegationKey()
    key.signed_oid, key.signed_tid = OBJECT_ID, TENANT
    key.signed_start = "2020-01-01T00:00:00Z"
    key.signed_expiry = "2999-01-01T00:00:00Z"
    key.signed_service, key.signed_version = "b", "2021-08-06"
    key.value = KEY

    class Injected(AzureStorage):
        asked: list[datetime] = []

        def get_user_delegation_key(self, expiry):
            self.asked.append(expiry)
            return key

    storage = Injected(
        account_name="acct",
        azure_container="media",
        token_credential=FakeTokenCredential(),
        expiration_secs=60,
    )
    url = storage.url("a.txt")
    other = storage.url("b.txt", expire=120)
    assert len(Injected.asked) == 2  # asked for every URL, with the URL's expiry
    assert Injected.asked[1] - Injected.asked[0] >= timedelta(seconds=59)
    assert url.startswith("https://acct.blob.core.windows.net/media/a.txt?")
    assert query(url)["skoid"] == query(other)["skoid"] == OBJECT_ID


NAMES = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\\"),
    min_size=1,
    max_size=40,
).map(lambda s: "d/" + s.strip("/. ").replace("//", "/") + "x")


@settings(max_examples=120, deadline=None)
@given(names=st.lists(NAMES, min_size=1, max_size=4), lifetime=st.integers(1, 7 * 86400))
def test_reused_sas_tokens_equal_the_sdks_own(names, lifetime):
    from azure.storage.blob import generate_blob_sas

    moment = datetime(2026, 3, 14, 15, 9, 26, 535000, tzinfo=timezone.utc)
    original = _azure_urls._now
    _azure_urls._now = lambda: moment
    try:
        storage = AzureStorage(account_name=ACCOUNT, account_key=KEY, azure_container="media")
        for name in names:  # the first is signed by the SDK, the rest by the learned template
            token = storage.url(name, expire=lifetime).split("?", 1)[1]
            expected = generate_blob_sas(
                ACCOUNT,
                "media",
                storage._key(name),
                account_key=KEY,
                permission="r",
                expiry=moment + timedelta(seconds=lifetime),
            )
            assert token == expected
        assert storage._sas_template is not None
    finally:
        _azure_urls._now = original


def test_sas_template_is_not_reused_across_seconds_or_modes(azure_storage, monkeypatch):
    storage = azure_storage(expiration_secs=60)
    storage.save("a.txt", ContentFile(b"a"))
    moment = datetime.now(timezone.utc)
    monkeypatch.setattr(_azure_urls, "_now", lambda: moment)
    first = storage.url("a.txt")
    monkeypatch.setattr(_azure_urls, "_now", lambda: moment + timedelta(seconds=1))
    later = storage.url("a.txt")
    upload = storage.url("a.txt", mode="w")
    assert query(first)["se"] != query(later)["se"]
    assert query(upload)["sp"] == "w" and query(later)["sp"] == "r"
    assert fetch(later) == b"a"
    assert status(upload, "PUT", b"new", {"x-ms-blob-type": "BlockBlob"}) == 201
    assert fetch(later) == b"new"
