"""S3 URLs: the fast signer equals botocore's presigner byte for byte; every URL setting."""

from __future__ import annotations

import base64
import hmac
import json
import urllib.error
import urllib.parse
from datetime import datetime, timezone
from typing import Any

import boto3
import botocore.auth
import pytest
from botocore.config import Config
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storages.backends import _s3_signing as _s3_urls
from storages.backends.s3 import S3Storage
from tests.servers.reference import fetch

FIXED = datetime(2026, 3, 14, 15, 9, 26, tzinfo=timezone.utc)

CONFIGS: dict[str, dict[str, Any]] = {
    "custom-endpoint-path": {
        "endpoint_url": "http://127.0.0.1:9000",
        "region_name": "us-east-1",
        "addressing_style": "path",
    },
    "aws-virtual-token": {
        "region_name": "eu-west-1",
        "addressing_style": "virtual",
        "security_token": "FwoGZXIvYXdzE//token+with/slashes=",
    },
    "aws-path-global": {"region_name": "us-east-1", "addressing_style": "path"},
    "aws-default-style": {"region_name": "ap-southeast-2"},
    "https-default-port": {"endpoint_url": "https://s3.example.com:443", "region_name": "auto"},
}

KEYS = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\\/"),
    min_size=1,
    max_size=30,
).map(lambda s: s.strip(". ") or "x")
PATHS = st.lists(KEYS, min_size=1, max_size=3).map("/".join)
PARAMS = st.dictionaries(
    st.sampled_from(
        ["ResponseContentDisposition", "ResponseContentType", "ResponseCacheControl", "VersionId"]
    ),
    st.text(max_size=20).filter(lambda s: "\x00" not in s),
    max_size=2,
)


@pytest.fixture
def frozen_clock(monkeypatch):
    monkeypatch.setattr(
        botocore.auth, "get_current_datetime", lambda remove_tzinfo=True: FIXED.replace(tzinfo=None)
    )
    monkeypatch.setattr(_s3_urls, "_now", FIXED.timestamp)
    _s3_urls._clock._second = -1


def raw_client(options: dict[str, Any]) -> Any:
    style = options.get("addressing_style")
    return boto3.client(
        "s3",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        aws_session_token=options.get("security_token"),
        region_name=options.get("region_name"),
        endpoint_url=options.get("public_endpoint_url") or options.get("endpoint_url"),
        config=Config(signature_version="s3v4", s3={"addressing_style": style} if style else None),
    )


def _no_fallback(*args: Any, **kwargs: Any) -> str:
    raise AssertionError("the fast signer was bypassed")


def storage_for(options: dict[str, Any], **extra: Any) -> S3Storage:
    storage = S3Storage(
        bucket_name="my-bucket-01",
        access_key="AKIDEXAMPLE",
        secret_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        **options,
        **extra,
    )
    storage._botocore_url = _no_fallback  # type: ignore[method-assign]
    return storage


@pytest.mark.parametrize("config", sorted(CONFIGS))
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    key=PATHS,
    params=PARAMS,
    expire=st.integers(1, 604800),
    method=st.sampled_from([None, "GET", "PUT", "HEAD"]),
)
def test_fast_signer_equals_botocore(frozen_clock, config, key, params, expire, method):
    options = CONFIGS[config]
    storage = STORAGES.setdefault(config, storage_for(options))
    client = CLIENTS.setdefault(config, raw_client(options))
    expected = client.generate_presigned_url(
        "get_object",
        Params={"Bucket": "my-bucket-01", "Key": key, **params},
        ExpiresIn=expire,
        HttpMethod=method,
    )
    assert storage.url(key, parameters=params, expire=expire, http_method=method) == expected


STORAGES: dict[str, S3Storage] = {}
CLIENTS: dict[str, Any] = {}


def test_public_endpoint_is_shown_and_signed_for(frozen_clock):
    options = {
        "endpoint_url": "http://minio.internal:9000",
        "region_name": "us-east-1",
        "addressing_style": "path",
        "public_endpoint_url": "https://files.example.com",
    }
    storage = storage_for(options)
    url = storage.url("a b.txt")
    assert url.startswith("https://files.example.com/my-bucket-01/a%20b.txt?")
    assert url == raw_client(options).generate_presigned_url(
        "get_object", Params={"Bucket": "my-bucket-01", "Key": "a b.txt"}, ExpiresIn=3600
    )
    assert "minio.internal" not in url


def test_signed_url_can_be_fetched(s3_storage):
    storage = s3_storage()
    name = storage.save("dir/ü file+#?.txt", ContentFile(b"signed body"))
    url = storage.url(name)
    assert "X-Amz-Signature=" in url and "X-Amz-Expires=3600" in url
    assert fetch(url) == b"signed body"


def test_querystring_expire_and_expire_argument(s3_storage):
    storage = s3_storage(querystring_expire=120)
    assert "X-Amz-Expires=120&" in storage.url("a.txt")
    assert "X-Amz-Expires=60&" in storage.url("a.txt", expire=60)


def test_response_parameters_reach_the_server(s3_storage):
    storage = s3_storage()
    name = storage.save("report.csv", ContentFile(b"a,b"))
    disposition = 'attachment; filename="r.csv"'
    url = storage.url(name, parameters={"ResponseContentDisposition": disposition})
    with urllib.request.urlopen(url) as response:
        assert response.headers["Content-Disposition"] == 'attachment; filename="r.csv"'
        assert response.read() == b"a,b"


def test_unsigned_urls_when_querystring_auth_is_off(s3_storage):
    storage = s3_storage(querystring_auth=False, default_acl="public-read")
    name = storage.save("public/ünï.txt", ContentFile(b"public"))
    url = storage.url(name)
    assert "?" not in url
    assert url.endswith("/public/%C3%BCn%C3%AF.txt")
    assert fetch(url) == b"public"


def test_private_object_is_refused_without_signature(s3_storage):
    storage = s3_storage(querystring_auth=False)
    name = storage.save("private.txt", ContentFile(b"private"))
    with pytest.raises(urllib.error.HTTPError) as info:
        fetch(storage.url(name))
    assert info.value.code == 403


def test_legacy_signature_version_uses_botocore(s3_storage):
    storage = s3_storage(signature_version="s3")
    name = storage.save("v2.txt", ContentFile(b"v2"))
    url = storage.url(name)
    assert "AWSAccessKeyId=" in url and "Signature=" in url and "X-Amz-" not in url
    assert fetch(url) == b"v2"


def test_client_config_is_merged_over_ours(s3_storage):
    storage = s3_storage(client_config=Config(signature_version="s3"))
    assert "AWSAccessKeyId=" in storage.url("x.txt")


def test_custom_domain_urls(s3_storage, moto_server, s3_bucket):
    domain = f"127.0.0.1:{moto_server.port}/{s3_bucket}"
    storage = s3_storage(custom_domain=domain, url_protocol="http:")
    name = storage.save("cdn/a b.txt", ContentFile(b"via cdn"))
    assert storage.url(name) == f"http://{domain}/cdn/a%20b.txt"
    https = s3_storage(custom_domain="cdn.example.com")
    assert https.url("x.txt") == "https://cdn.example.com/x.txt"
    with pytest.raises(ImproperlyConfigured, match="AWS_S3_URL_PROTOCOL"):
        s3_storage(custom_domain="cdn.example.com", url_protocol="https")


def test_custom_domain_url_is_fetchable_when_public(s3_storage, moto_server, s3_bucket):
    storage = s3_storage(
        custom_domain=f"127.0.0.1:{moto_server.port}/{s3_bucket}",
        url_protocol="http:",
        default_acl="public-read",
    )
    name = storage.save("cdn.txt", ContentFile(b"cdn body"))
    assert fetch(storage.url(name)) == b"cdn body"


def test_secure_urls_false_is_honoured_with_a_warning():
    with pytest.warns(DeprecationWarning, match="AWS_S3_URL_PROTOCOL"):
        storage = S3Storage(bucket_name="b", custom_domain="cdn.example.com", secure_urls=False)
    assert storage.url("x.txt") == "http://cdn.example.com/x.txt"


def test_addressing_style_shapes_the_url(frozen_clock):
    virtual = storage_for({"region_name": "eu-west-1", "addressing_style": "virtual"})
    path = storage_for({"region_name": "eu-west-1", "addressing_style": "path"})
    assert virtual.url("k").startswith("https://my-bucket-01.s3.eu-west-1.amazonaws.com/k?")
    assert path.url("k").startswith("https://s3.eu-west-1.amazonaws.com/my-bucket-01/k?")


def test_credentials_and_region_appear_in_the_signature_scope(frozen_clock):
    storage = S3Storage(
        bucket_name="my-bucket-01",
        access_key="AKIAONE",
        secret_key="s",
        security_token="tok",
        region_name="eu-central-1",
    )
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(storage.url("k")).query))
    assert query["X-Amz-Credential"] == "AKIAONE/20260314/eu-central-1/s3/aws4_request"
    assert query["X-Amz-Security-Token"] == "tok"


def test_session_profile_supplies_the_credentials(tmp_path, monkeypatch, frozen_clock):
    config = tmp_path / "config"
    config.write_text("[profile stowage]\nregion = eu-west-3\n")
    creds = tmp_path / "credentials"
    creds.write_text("[stowage]\naws_access_key_id = AKIAPROFILE\naws_secret_access_key = x\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(creds))
    storage = S3Storage(bucket_name="my-bucket-01", session_profile="stowage")
    assert "AKIAPROFILE%2F20260314%2Feu-west-3" in storage.url("k")
    with pytest.raises(ImproperlyConfigured, match="cannot be combined"):
        S3Storage(bucket_name="b", session_profile="stowage", access_key="a", secret_key="b")


def _cloudfront_key() -> tuple[str, Any]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return pem, key.public_key()


def test_cloudfront_signed_urls_verify_with_the_public_key():
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    pem, public_key = _cloudfront_key()
    storage = S3Storage(
        bucket_name="b",
        custom_domain="d111.cloudfront.net",
        cloudfront_key_id="K2JCJMDEHXQW5F",
        cloudfront_key=pem,
    )
    url = storage.url("media/a b.jpg", expire=300)
    base, query = url.split("?", 1)
    assert base == "https://d111.cloudfront.net/media/a%20b.jpg"
    fields = dict(urllib.parse.parse_qsl(query))
    assert fields["Key-Pair-Id"] == "K2JCJMDEHXQW5F"
    expires = int(fields["Expires"])
    assert 290 <= expires - datetime.now(timezone.utc).timestamp() <= 301
    policy = json.dumps(
        {
            "Statement": [
                {"Resource": base, "Condition": {"DateLessThan": {"AWS:EpochTime": expires}}}
            ]
        },
        separators=(",", ":"),
    ).encode()
    signature = base64.b64decode(
        fields["Signature"].replace("-", "+").replace("_", "=").replace("~", "/")
    )
    public_key.verify(signature, policy, padding.PKCS1v15(), hashes.SHA1())
    assert storage.deconstruct()[2].get("cloudfront_key") is None


def test_cloudfront_key_is_parsed_once():
    pem, _ = _cloudfront_key()
    _s3_urls._load_private_key.cache_clear()
    for _ in range(5):
        S3Storage(bucket_name="b", custom_domain="d.net", cloudfront_key_id="K", cloudfront_key=pem)
    assert _s3_urls._load_private_key.cache_info().misses == 1


def test_cloudfront_signer_none_disables_signing():
    pem, _ = _cloudfront_key()
    storage = S3Storage(
        bucket_name="b",
        custom_domain="d.net",
        cloudfront_key_id="K",
        cloudfront_key=pem,
        cloudfront_signer=None,
    )
    assert storage.url("x") == "https://d.net/x"


def test_cloudfront_key_and_id_must_come_together():
    with pytest.raises(ImproperlyConfigured, match="AWS_CLOUDFRONT_KEY_ID and AWS_CLOUDFRONT_KEY"):
        S3Storage(bucket_name="b", cloudfront_key_id="K")


@settings(max_examples=200, deadline=None)
@given(key=st.binary(max_size=130), message=st.binary(max_size=300))
def test_precomputed_hmac_equals_the_standard_library(key, message):
    assert (
        _s3_urls.HmacSha256(key).hexdigest(message) == hmac.new(key, message, "sha256").hexdigest()
    )


def test_unsigned_connection_sends_no_signature(s3_storage):
    storage = s3_storage(default_acl="public-read")
    name = storage.save("public/open.txt", ContentFile(b"for everyone"))
    resource = storage.unsigned_connection
    headers: list[dict[str, str]] = []
    resource.meta.client.meta.events.register(
        "before-send.s3.GetObject", lambda request, **_: headers.append(dict(request.headers))
    )
    body = resource.Object(storage.bucket_name, name).get()["Body"].read()
    assert body == b"for everyone"
    assert headers and "Authorization" not in headers[0]
    assert storage.unsigned_connection is resource  # one per thread, reused


def test_get_cloudfront_signer_is_the_signer_urls_use():
    pem, _public_key = _cloudfront_key()
    storage = S3Storage(bucket_name="b", custom_domain="d.example.net")
    signer = storage.get_cloudfront_signer("K2JCJMDEHXQW5F", pem)
    url = signer.generate_presigned_url(
        "https://d.example.net/a.txt", date_less_than=datetime(2030, 1, 1, tzinfo=timezone.utc)
    )
    assert "Key-Pair-Id=K2JCJMDEHXQW5F" in url and "Signature=" in url
