"""Every Azure setting (inventory §1.3), shown by its effect on Azurite, read back with the SDK."""

from __future__ import annotations

import io
import socket
import threading
import time
import warnings
from datetime import datetime, timedelta, timezone

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files import File
from django.core.files.base import ContentFile
from django.test import override_settings

from storages.backends.azure_storage import AzureStorage
from tests.servers.azure import ACCOUNT, KEY, FakeTokenCredential, recorder

MiB = 1024 * 1024


@pytest.fixture
def raw(azurite, azure_container):
    """The test's container, through the SDK."""
    client = azurite.client()
    yield client.get_container_client(azure_container)
    client.close()


def account_options(server, container, **extra):
    """Options that reach ``server`` by account name + endpoint suffix (no connection string)."""
    scheme, _, rest = server.endpoint.partition("://")
    port = rest.split("/")[0].split(":")[1]
    options = {
        "account_name": ACCOUNT,
        "endpoint_suffix": f"localhost:{port}",
        "azure_ssl": scheme == "https",
        "azure_container": container,
    }
    if server.ca_file:
        options["client_options"] = {"connection_verify": server.ca_file}
    options.update(extra)
    return options


# -- where requests go, and how they authenticate ------------------------------------------


def test_account_name_key_and_endpoint_suffix(azurite, azure_container, raw, localhost_subdomains):
    storage = AzureStorage(**account_options(azurite, azure_container, account_key=KEY))
    assert storage.account_url() == f"http://{ACCOUNT}.blob.localhost:{azurite.port}"
    storage.save("by-key.txt", ContentFile(b"account key"))
    assert raw.download_blob("by-key.txt").readall() == b"account key"


def test_default_endpoint_suffix_and_ssl():
    storage = AzureStorage(account_name="myaccount", azure_container="media")
    assert storage.endpoint_suffix == "core.windows.net"
    assert storage.azure_ssl is True
    assert storage.account_url() == "https://myaccount.blob.core.windows.net"
    assert storage.url("a b.txt") == "https://myaccount.blob.core.windows.net/media/a%20b.txt"


def test_azure_ssl_true_talks_tls(azurite_tls, localhost_subdomains):
    client = azurite_tls.client()
    client.create_container("tls-container")
    try:
        storage = AzureStorage(
            **account_options(azurite_tls, "tls-container", account_key=KEY, azure_ssl=True)
        )
        assert storage.account_url().startswith("https://")
        storage.save("secure.txt", ContentFile(b"over tls"))
        blob = client.get_blob_client("tls-container", "secure.txt")
        assert blob.download_blob().readall() == b"over tls"
        # The same server refuses plain HTTP: AZURE_SSL=False really changes the scheme.
        plain = AzureStorage(
            **account_options(
                azurite_tls,
                "tls-container",
                account_key=KEY,
                azure_ssl=False,
                client_options={"retry_total": 0},
            )
        )
        with pytest.raises(OSError):
            plain.exists("secure.txt")
    finally:
        client.delete_container("tls-container")


def test_connection_string_fills_account_name_and_key(azurite, azure_container):
    storage = AzureStorage(**azurite.options(azure_container))
    assert storage.account_name == ACCOUNT
    assert storage.account_key == KEY
    assert storage._credential()["account_key"] == KEY


def test_connection_string_wins_over_other_settings(azurite, azure_container, raw):
    storage = AzureStorage(
        **azurite.options(azure_container, account_name="elsewhere", endpoint_suffix="invalid")
    )
    storage.save("conn.txt", ContentFile(b"by connection string"))
    assert raw.download_blob("conn.txt").readall() == b"by connection string"


def test_container_receives_the_files(azurite, azure_container, raw):
    storage = AzureStorage(**azurite.options(azure_container))
    storage.save("where.txt", ContentFile(b"here"))
    assert [b.name for b in raw.list_blobs()] == ["where.txt"]


def test_missing_container_setting_is_reported_at_first_use(azurite):
    storage = AzureStorage(connection_string=azurite.connection_string())
    with pytest.raises(ImproperlyConfigured, match="AZURE_CONTAINER"):
        storage.exists("x.txt")


def test_container_that_does_not_exist_is_not_created(azurite, raw):
    storage = AzureStorage(**azurite.options("no-such-container"))
    with pytest.raises(FileNotFoundError):
        storage.save("x.txt", ContentFile(b"x"))
    assert not azurite.client().get_container_client("no-such-container").exists()


def test_sas_token_authenticates(azurite, azure_container, raw, localhost_subdomains):
    from azure.storage.blob import generate_container_sas

    def token(permission):
        expiry = datetime.now(timezone.utc) + timedelta(hours=1)
        return generate_container_sas(
            ACCOUNT, azure_container, account_key=KEY, permission=permission, expiry=expiry
        )

    writer = AzureStorage(**account_options(azurite, azure_container, sas_token=token("rwdl")))
    writer.save("sas.txt", ContentFile(b"via sas"))
    assert raw.download_blob("sas.txt").readall() == b"via sas"
    assert writer.listdir("") == ([], ["sas.txt"])
    reader = AzureStorage(**account_options(azurite, azure_container, sas_token=token("r")))
    assert reader.open("sas.txt").read() == b"via sas"
    with pytest.raises(PermissionError):
        reader.save("refused.txt", ContentFile(b"no"))
    assert not raw.get_blob_client("refused.txt").exists()
    # The token is a secret: never in repr or deconstruct.
    assert "sig=" not in repr(reader)
    assert "sas_token" not in reader.deconstruct()[2]


def test_token_credential_authenticates(azurite_tls, localhost_subdomains):
    client = azurite_tls.client()
    client.create_container("token-container")
    credential = FakeTokenCredential()
    try:
        storage = AzureStorage(
            **account_options(azurite_tls, "token-container", token_credential=credential)
        )
        storage.save("token.txt", ContentFile(b"entra id"))
        assert credential.calls >= 1
        blob = client.get_blob_client("token-container", "token.txt")
        assert blob.download_blob().readall() == b"entra id"
        assert storage.open("token.txt").read() == b"entra id"
        assert "token_credential" not in storage.deconstruct()[2]
    finally:
        client.delete_container("token-container")


def test_wrong_account_key_is_access_denied(azurite, azure_container, raw):
    wrong = KEY[:-8] + "AAAAAAA="
    conn = azurite.connection_string().replace(KEY, wrong)
    storage = AzureStorage(connection_string=conn, azure_container=azure_container)
    with pytest.raises(PermissionError) as info:
        storage.save("nope.txt", ContentFile(b"x"))
    assert wrong not in str(info.value)
    assert not raw.get_blob_client("nope.txt").exists()


# -- transfers -----------------------------------------------------------------------------


@pytest.mark.parametrize("connections", [1, 3])
def test_upload_max_conn_stages_blocks_in_parallel(azure_storage, raw, connections):
    probe = recorder(delay=0.05)
    storage = azure_storage(
        upload_max_conn=connections,
        client_options={"max_block_size": 1 * MiB, "transport": probe},
    )
    data = bytes(range(256)) * (8 * MiB // 256)
    storage.save("parallel.bin", ContentFile(data))
    assert probe.count("PUT", "comp=block&") == 8
    assert probe.most_in_flight == connections
    assert raw.download_blob("parallel.bin").readall() == data
    blocks = raw.get_blob_client("parallel.bin").get_block_list("committed")[0]
    assert [b.size for b in blocks] == [MiB] * 8


def test_default_upload_max_conn_is_two(azure_storage):
    assert azure_storage().upload_max_conn == 2


def test_connection_timeout_applies_to_requests(azure_container):
    # A server that accepts connections and never answers.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    accepted = []
    threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True).start()
    conn = (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};"
        f"BlobEndpoint=http://127.0.0.1:{port}/{ACCOUNT};"
    )
    storage = AzureStorage(
        connection_string=conn,
        azure_container=azure_container,
        timeout=1,
        client_options={"retry_total": 0},
    )
    started = time.monotonic()
    with pytest.raises(OSError):
        storage.size("slow.txt")
    assert time.monotonic() - started < 5
    listener.close()
    assert AzureStorage(azure_container="c").timeout == 20


def test_blob_max_memory_size_spools_a_replayed_stream(azure_storage, raw):
    """A non-seekable body is kept (memory, then disk past the limit) to be sent again when
    the create-only write finds the name taken."""
    storage = azure_storage(max_memory_size=1024)
    assert AzureStorage(azure_container="c").max_memory_size == 2 * MiB
    raw.upload_blob("taken.bin", b"first")

    class Pipe(io.RawIOBase):
        def __init__(self, data):
            self._data = io.BytesIO(data)

        def readable(self):
            return True

        def readinto(self, buffer):
            chunk = self._data.read(len(buffer))
            buffer[: len(chunk)] = chunk
            return len(chunk)

    # The existence check is skipped, so the upload itself meets the conflict and is replayed.
    storage.is_name_available = lambda name, max_length=None: True
    data = bytes(range(256)) * 400
    name = storage.save("taken.bin", File(io.BufferedReader(Pipe(data)), name="taken.bin"))
    assert name != "taken.bin"
    assert raw.download_blob(name).readall() == data
    assert raw.download_blob("taken.bin").readall() == b"first"


# -- overwriting, location, content settings ----------------------------------------------


def test_overwrite_files_defaults_to_false(azure_storage, raw):
    storage = azure_storage()
    assert storage.file_overwrite is False
    storage.save("o.txt", ContentFile(b"1"))
    second = storage.save("o.txt", ContentFile(b"2"))
    assert second != "o.txt"
    assert raw.download_blob("o.txt").readall() == b"1"


@pytest.mark.parametrize("keyword", ["overwrite_files", "file_overwrite"])
def test_overwrite_files_replaces(azure_storage, raw, keyword):
    storage = azure_storage(**{keyword: True})
    storage.save("o.txt", ContentFile(b"1"))
    assert storage.save("o.txt", ContentFile(b"2")) == "o.txt"
    assert raw.download_blob("o.txt").readall() == b"2"


def test_overwrite_files_global_setting(azurite, azure_container, raw):
    with override_settings(AZURE_OVERWRITE_FILES=True):
        storage = AzureStorage(**azurite.options(azure_container))
        storage.save("g.txt", ContentFile(b"1"))
        assert storage.save("g.txt", ContentFile(b"2")) == "g.txt"
    assert raw.download_blob("g.txt").readall() == b"2"


def test_location_prefixes_blob_names(azure_storage, raw):
    storage = azure_storage(location="site/media")
    assert storage.save("a/b.txt", ContentFile(b"x")) == "a/b.txt"
    assert [b.name for b in raw.list_blobs()] == ["site/media/a/b.txt"]
    assert storage.listdir("") == (["a"], [])
    assert storage.listdir("a") == ([], ["b.txt"])
    assert "/site/media/a/b.txt" in storage.url("a/b.txt")


def test_cache_control_is_stored(azure_storage, raw):
    storage = azure_storage(cache_control="public, max-age=31536000, immutable")
    storage.save("cached.css", ContentFile(b"body{}"))
    settings = raw.get_blob_client("cached.css").get_blob_properties().content_settings
    assert settings.cache_control == "public, max-age=31536000, immutable"
    assert settings.content_type == "text/css"


def test_object_parameters_are_stored_on_small_and_block_uploads(azure_storage, raw):
    params = {
        "content_disposition": "attachment",
        "content_language": "fr",
        "cache_control": "no-cache",
        "metadata": {"origin": "tests"},
    }
    storage = azure_storage(object_parameters=params, client_options={"max_block_size": MiB})
    storage.save("small.txt", ContentFile(b"s"))
    storage.save("large.bin", ContentFile(b"L" * (3 * MiB)))
    with storage.open("written.txt", "wb") as handle:
        handle.write(b"w" * (2 * MiB + 1))
    for name in ("small.txt", "large.bin", "written.txt"):
        props = raw.get_blob_client(name).get_blob_properties()
        assert props.content_settings.content_disposition == "attachment"
        assert props.content_settings.content_language == "fr"
        assert props.content_settings.cache_control == "no-cache"
        assert props.metadata == {"origin": "tests"}
    assert len(raw.get_blob_client("large.bin").get_block_list("committed")[0]) == 3


def test_object_parameters_win_over_cache_control_and_guessed_type(azure_storage, raw):
    storage = azure_storage(
        cache_control="public",
        object_parameters={"cache_control": "private", "content_type": "x/y"},
    )
    storage.save("page.html", ContentFile(b"<p>"))
    settings = raw.get_blob_client("page.html").get_blob_properties().content_settings
    assert (settings.cache_control, settings.content_type) == ("private", "x/y")


def test_get_object_parameters_varies_per_blob(azure_storage, raw):
    class PerName(AzureStorage):
        def get_object_parameters(self, name):
            return {"content_disposition": f"attachment; filename={name.rsplit('/', 1)[-1]}"}

    storage = azure_storage(PerName)
    storage.save("docs/report.pdf", ContentFile(b"%PDF"))
    props = raw.get_blob_client("docs/report.pdf").get_blob_properties()
    assert props.content_settings.content_disposition == "attachment; filename=report.pdf"
    assert props.content_settings.content_type == "application/pdf"


def test_unknown_object_parameter_is_refused(azure_storage):
    with pytest.raises(ImproperlyConfigured, match="AZURE_OBJECT_PARAMETERS"):
        azure_storage(object_parameters={"acl": "public"})


def test_unknown_key_from_get_object_parameters_is_refused_before_upload(azure_storage, raw):
    class Unknown(AzureStorage):
        def get_object_parameters(self, name):
            return {"acl": "public"}

    probe = recorder()
    storage = azure_storage(Unknown, client_options={"transport": probe, "max_block_size": MiB})
    for size in (5, 3 * MiB):  # one Put Blob, and staged blocks
        with pytest.raises(ImproperlyConfigured, match=r"get_object_parameters\(.*acl"):
            storage.save("refused.bin", ContentFile(b"x" * size))
    assert [method for method, _, _ in probe.requests if method == "PUT"] == []
    assert list(raw.list_blobs()) == []


def test_content_type_uploaded_guessed_and_default(azure_storage, raw):
    from django.core.files.uploadedfile import SimpleUploadedFile

    storage = azure_storage()
    storage.save("photo.jpg", ContentFile(b"j"))
    storage.save("upload.bin", SimpleUploadedFile("u", b"u", content_type="image/png"))
    storage.save("noext", ContentFile(b"n"))
    storage.save("archive.tar.gz", ContentFile(b"g"))
    custom = azure_storage(default_content_type="text/plain")
    custom.save("other", ContentFile(b"o"))

    def settings(name):
        return raw.get_blob_client(name).get_blob_properties().content_settings

    assert settings("photo.jpg").content_type == "image/jpeg"
    assert settings("upload.bin").content_type == "image/png"
    assert settings("noext").content_type == "application/octet-stream"
    assert settings("other").content_type == "text/plain"
    assert settings("archive.tar.gz").content_type == "application/x-tar"
    assert settings("archive.tar.gz").content_encoding == "gzip"


# -- client options, API version, deprecated settings --------------------------------------


def test_client_options_reach_the_client(azure_storage, raw):
    probe = recorder()
    storage = azure_storage(client_options={"max_block_size": 512 * 1024, "transport": probe})
    storage.save("opts.bin", ContentFile(b"o" * (2 * MiB)))
    assert len(raw.get_blob_client("opts.bin").get_block_list("committed")[0]) == 4
    assert probe.count("PUT", "comp=blocklist") == 1


def test_api_version_is_deprecated_and_sent(azure_storage):
    probe = recorder()
    with pytest.warns(DeprecationWarning, match="AZURE_CLIENT_OPTIONS"):
        storage = azure_storage(api_version="2021-08-06", client_options={"transport": probe})
    storage.save("v.txt", ContentFile(b"v"))
    assert {h["x-ms-version"] for _, _, h in probe.requests} == {"2021-08-06"}


def test_api_version_in_client_options(azure_storage):
    probe = recorder()
    storage = azure_storage(client_options={"api_version": "2020-10-02", "transport": probe})
    storage.exists("x")
    assert probe.requests[0][2]["x-ms-version"] == "2020-10-02"


def test_emulated_mode_uses_the_development_account(azurite, azure_container, raw):
    with pytest.warns(DeprecationWarning, match="is_emulated is deprecated"):
        storage = AzureStorage(
            is_emulated=True,
            custom_domain=f"127.0.0.1:{azurite.port}",
            azure_container=azure_container,
        )
    assert storage.account_name == ACCOUNT
    storage.save("emulated.txt", ContentFile(b"emu"))
    assert raw.download_blob("emulated.txt").readall() == b"emu"
    assert storage.url("emulated.txt") == (
        f"http://127.0.0.1:{azurite.port}/{ACCOUNT}/{azure_container}/emulated.txt"
    )


def test_emulated_mode_global_setting_warns(azure_container):
    with override_settings(AZURE_EMULATED_MODE=True), warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        storage = AzureStorage(azure_container=azure_container)
        assert storage.account_url() == f"http://127.0.0.1:10000/{ACCOUNT}"
        assert storage.account_key == KEY
    assert any("AZURE_EMULATED_MODE is deprecated" in str(x.message) for x in w)


def test_custom_connection_string_builds_urls(azurite, azure_container, localhost_subdomains):
    from tests.servers.reference import fetch

    public = (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};"
        f"BlobEndpoint=http://{ACCOUNT}.blob.localhost:{azurite.port};"
    )
    with pytest.warns(DeprecationWarning, match="AZURE_CUSTOM_DOMAIN"):
        storage = AzureStorage(
            **azurite.options(azure_container, custom_connection_string=public, expiration_secs=60)
        )
    storage.save("ccs.txt", ContentFile(b"custom"))
    url = storage.url("ccs.txt")
    assert url.startswith(f"http://{ACCOUNT}.blob.localhost:{azurite.port}/{azure_container}/")
    assert fetch(url) == b"custom"
    assert "custom_connection_string" not in storage.deconstruct()[2]


def test_settings_are_reread_after_override(azurite, azure_container):
    storage = AzureStorage(**azurite.options(azure_container))
    with override_settings(AZURE_LOCATION="moved"):
        assert storage.location == "moved"
        storage.save("r.txt", ContentFile(b"r"))
    assert storage.location == ""
    assert storage.exists("moved/r.txt")


def test_unknown_option_lists_valid_names():
    with pytest.raises(ImproperlyConfigured, match="azure_container"):
        AzureStorage(bucket_name="x")


@pytest.mark.parametrize(
    "option,value",
    [("upload_max_conn", 0), ("timeout", "20"), ("expiration_secs", -1), ("client_options", [])],
)
def test_bad_values_are_refused(option, value):
    with pytest.raises(ImproperlyConfigured, match=option):
        AzureStorage(azure_container="c", **{option: value})


def test_policies_in_client_options_never_link_the_account_key_into_a_pickle(azure_storage, raw):
    """The SDK chains every policy it is given to the client's pipeline (its ``next``), the
    shared-key policy included; a storage pickled after use must not carry that chain."""
    import pickle

    from azure.storage.blob import LinearRetry

    from tests.servers.azure import KEY

    policy = LinearRetry(backoff=0, retry_total=1)
    storage = azure_storage(client_options={"retry_policy": policy})
    storage.save("pickled.txt", ContentFile(b"kept"))
    assert raw.download_blob("pickled.txt").readall() == b"kept"
    assert getattr(policy, "next", None) is None  # the setting stayed out of the pipeline
    data = pickle.dumps(storage)
    assert KEY.encode() not in data
    assert pickle.loads(data).open("pickled.txt").read() == b"kept"
