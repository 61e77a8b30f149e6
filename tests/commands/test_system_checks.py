"""System checks: every backend's setting typos, STORAGES options, app order, TLS off."""

from __future__ import annotations

import ssl

import pytest
from django.core.management import get_commands
from django.test import override_settings

from storages._security_checks import check_transport_security
from storages.checks import check_app_order, check_setting_typos, check_storage_options

S3 = "storages.backends.s3.S3Storage"
DEFAULT = {"BACKEND": "django.core.files.storage.FileSystemStorage"}


def storages_with(backend: str, **options) -> dict:
    return {"default": {"BACKEND": backend, "OPTIONS": options}, "staticfiles": DEFAULT}


@pytest.mark.parametrize(
    ("typo", "meant"),
    [
        ("AWS_S3_ENDPONT_URL", "AWS_S3_ENDPOINT_URL"),
        ("GS_BUCKET_NAM", "GS_BUCKET_NAME"),
        ("AZURE_CONTAINR", "AZURE_CONTAINER"),
        ("DROPBOX_OAUTH2_TOKN", "DROPBOX_OAUTH2_TOKEN"),
        ("FTP_STORAGE_LOCATON", "FTP_STORAGE_LOCATION"),
        ("SFTP_STORAGE_HOTS", "SFTP_STORAGE_HOST"),
        ("LIBCLOUD_PROVIDRS", "LIBCLOUD_PROVIDERS"),
    ],
)
def test_typos_of_every_backends_settings(typo, meant):
    with override_settings(**{typo: "x"}):
        hints = [m.hint for m in check_setting_typos() if typo in m.msg]
    assert hints == [f"Did you mean {meant}?"]


def test_storages_options_a_backend_does_not_accept():
    with override_settings(STORAGES=storages_with(S3, bucket="static", location="x")):
        (message,) = check_storage_options()
    assert message.id == "storages.W005"
    assert "'bucket'" in message.msg and 'STORAGES["default"]' in message.msg
    assert message.hint == "Did you mean 'bucket_name'?"


def test_app_order_decides_which_collectstatic_runs():
    static = {"BACKEND": "storages.backends.s3.S3StaticStorage"}
    entries = {"default": DEFAULT, "staticfiles": static}
    late = ["django.contrib.staticfiles", "storages"]
    with override_settings(INSTALLED_APPS=late, STORAGES=entries):
        (warning,) = check_app_order()
        assert warning.id == "storages.W004"
        assert get_commands()["collectstatic"] == "django.contrib.staticfiles"
    with override_settings(INSTALLED_APPS=late[::-1], STORAGES=entries):
        assert check_app_order() == []
        assert get_commands()["collectstatic"] == "storages"
    # Static files on another storage: the order does not matter.
    with override_settings(
        INSTALLED_APPS=late, STORAGES={"default": static, "staticfiles": DEFAULT}
    ):
        assert check_app_order() == []


def warnings_for(**settings) -> list[str]:
    with override_settings(**settings):
        messages = check_transport_security()
    assert all(m.id == "storages.W006" for m in messages)
    return [m.msg for m in messages]


def test_tls_verification_off_is_reported_where_it_is_set():
    (message,) = warnings_for(STORAGES=storages_with(S3, verify=False))
    assert message.startswith('STORAGES["default"]["OPTIONS"][\'verify\']')
    assert "certificate verification is off" in message
    (message,) = warnings_for(STORAGES=storages_with(S3), AWS_S3_VERIFY=False)
    assert message.startswith("AWS_S3_VERIFY ")


def test_plain_http_endpoints_but_not_loopback_emulators():
    (message,) = warnings_for(STORAGES=storages_with(S3, endpoint_url="http://s3.example.com"))
    assert "plain http://" in message
    assert warnings_for(STORAGES=storages_with(S3, endpoint_url="http://127.0.0.1:9000")) == []
    (message,) = warnings_for(STORAGES=storages_with(S3, use_ssl=False))
    assert "TLS is off" in message
    gcs = "storages.backends.gcloud.GoogleCloudStorage"
    options = {"client_options": {"api_endpoint": "http://gcs.example.com"}}
    assert len(warnings_for(STORAGES=storages_with(gcs, **options))) == 1


def test_secrets_are_never_printed():
    azure = "storages.backends.azure_storage.AzureStorage"
    connection = "DefaultEndpointsProtocol=http;AccountName=acct;AccountKey=s3cr3tkey"
    (message,) = warnings_for(STORAGES=storages_with(azure, connection_string=connection))
    assert "s3cr3tkey" not in message and "http://" in message
    ftp = "storages.backends.ftp.FTPStorage"
    (message,) = warnings_for(
        STORAGES=storages_with(ftp), FTP_STORAGE_LOCATION="ftp://user:hunter2@ftp.example.com/"
    )
    assert "hunter2" not in message and "FTP_STORAGE_LOCATION" in message


def test_ssh_host_keys_ftps_contexts_and_libcloud():
    sftp = "storages.backends.sftpstorage.SFTPStorage"
    (message,) = warnings_for(STORAGES=storages_with(sftp, host="h"), SFTP_HOST_KEY_POLICY="add")
    assert "unknown SSH host keys are accepted" in message
    assert warnings_for(STORAGES=storages_with(sftp, host="h")) == []
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    ftp = "storages.backends.ftp.FTPStorage"
    options = {"location": "ftps://u:p@ftp.example.com/", "ssl_context": context}
    (message,) = warnings_for(STORAGES=storages_with(ftp, **options))
    assert "ssl_context" in message
    libcloud = "storages.backends.apache_libcloud.LibCloudStorage"
    providers = {"default": {"type": "libcloud.storage.types.Provider.S3", "secure": False}}
    assert len(warnings_for(STORAGES=storages_with(libcloud), LIBCLOUD_PROVIDERS=providers)) == 1
