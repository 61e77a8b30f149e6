"""The Azure names of django-storages' public surface beyond the Storage API: ``service_client``,
``client`` (the container client), ``list_all()``, ``azure_protocol`` and
``get_user_delegation_key()``; each checked on Azurite and read back through the raw SDK."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile

from storages.backends.azure_storage import AzureStorage
from tests.servers.azure import ACCOUNT, KEY, OBJECT_ID, TENANT, FakeTokenCredential, recorder

DELEGATION_REQUEST = "comp=userdelegationkey"


@pytest.fixture
def raw(azurite, azure_container):
    client = azurite.client()
    yield client.get_container_client(azure_container)
    client.close()


def key_expiry(key) -> datetime:
    return datetime.strptime(key.signed_expiry, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def test_service_client_is_the_accounts_and_client_the_containers(
    azure_storage, raw, azure_container
):
    from azure.storage.blob import BlobServiceClient, ContainerClient

    storage = azure_storage()
    service, container = storage.service_client, storage.client
    assert isinstance(service, BlobServiceClient)
    assert isinstance(container, ContainerClient)
    assert container.container_name == azure_container
    assert storage.client is container is storage.container_client  # built once
    assert storage.service_client is service
    # Code written for django-storages calls the SDK through these; the storage sees the effect.
    container.upload_blob("via-client.txt", b"container client")
    service.get_blob_client(azure_container, "via-service.txt").upload_blob(b"service client")
    assert storage.open("via-client.txt").read() == b"container client"
    assert raw.download_blob("via-service.txt").readall() == b"service client"
    storage.save("saved.txt", ContentFile(b"saved"))
    assert container.download_blob("saved.txt").readall() == b"saved"


def test_clients_are_new_after_close(azure_storage):
    storage = azure_storage()
    service, container = storage.service_client, storage.client
    storage.close()
    assert storage.service_client is not service
    assert storage.client is not container
    assert storage.client.exists()  # the new ones work


def test_list_all_is_recursive_and_relative_to_location(azure_storage, raw):
    names = ["a.txt", "d/b.txt", "d/e/c.txt", "d/e/f/g.txt", "dx/h.txt"]
    for name in names:
        raw.upload_blob(f"loc/{name}", name.encode())
    raw.upload_blob("outside.txt", b"x")
    raw.upload_blob("locx/not-under-loc.txt", b"x")
    raw.upload_blob("loc/d/", b"")  # a "folder" marker, not a file
    probe = recorder()
    storage = azure_storage(location="loc", client_options={"transport": probe})
    storage.list_page_size = 2
    assert storage.list_all() == names
    assert probe.count("GET", "comp=list") >= 3  # every page, not the first
    assert storage.list_all("/") == names
    assert storage.list_all("d") == ["d/b.txt", "d/e/c.txt", "d/e/f/g.txt"]
    assert storage.list_all("d/") == storage.list_all("d")
    assert storage.list_all("d/e/f") == ["d/e/f/g.txt"]
    assert storage.list_all("missing") == []
    for name in storage.list_all():  # the names open() takes
        assert storage.open(name).read() == name.encode()
    everything = [f"loc/{n}" for n in names] + ["locx/not-under-loc.txt", "outside.txt"]
    assert azure_storage().list_all() == everything
    with pytest.raises(SuspiciousFileOperation):
        storage.list_all("../outside.txt")


def test_azure_protocol_follows_azure_ssl(azurite, azure_container, localhost_subdomains):
    secure = AzureStorage(account_name="acct", azure_container="media")
    assert secure.azure_protocol == "https"
    assert secure.service_client.url.startswith("https://acct.blob.core.windows.net")
    port = azurite.endpoint.split("://")[1].split("/")[0].split(":")[1]
    plain = AzureStorage(
        account_name=ACCOUNT,
        account_key=KEY,
        endpoint_suffix=f"localhost:{port}",
        azure_ssl=False,
        azure_container=azure_container,
        custom_domain="cdn.example.com",
    )
    try:
        assert plain.azure_protocol == "http"
        assert plain.service_client.url.startswith(f"http://{ACCOUNT}.blob.localhost:{port}")
        assert plain.url("a.txt").startswith("http://cdn.example.com/")
        plain.save("plain.txt", ContentFile(b"over http"))  # reached Azurite over http
        assert azurite.client().get_blob_client(azure_container, "plain.txt").exists()
    finally:
        plain.close()
        secure.close()


@pytest.fixture
def delegated(azurite_tls, localhost_subdomains):
    """A storage authenticated by a token credential on the HTTPS Azurite, and its recorder."""
    container = f"udk-{uuid.uuid4().hex[:12]}"
    client = azurite_tls.client()
    client.create_container(container)
    probe = recorder(connection_verify=azurite_tls.ca_file)
    storage = AzureStorage(
        account_name=ACCOUNT,
        endpoint_suffix=f"localhost:{azurite_tls.port}",
        azure_container=container,
        token_credential=FakeTokenCredential(),
        expiration_secs=300,
        client_options={"transport": probe},
    )
    yield storage, probe
    storage.close()
    client.delete_container(container)
    client.close()


def test_user_delegation_key_comes_from_the_service_and_is_reused(delegated):
    storage, probe = delegated
    now = datetime.now(timezone.utc)
    key = storage.get_user_delegation_key(now + timedelta(hours=1))
    assert probe.count("POST", DELEGATION_REQUEST) == 1
    assert (key.signed_oid, key.signed_tid, key.signed_service) == (OBJECT_ID, TENANT, "b")
    assert key.value
    assert key_expiry(key) > now + timedelta(days=6, hours=23)  # asked for (nearly) 7 days
    # Reused while it covers the expiry asked for; a naive time is UTC, as django-storages has it.
    assert storage.get_user_delegation_key(now + timedelta(days=6)) is key
    naive = (now + timedelta(days=1)).replace(tzinfo=None)
    assert storage.get_user_delegation_key(naive) is key
    url = storage.url("a.txt")  # SAS URLs are signed with the same key
    assert probe.count("POST", DELEGATION_REQUEST) == 1
    assert f"skoid={OBJECT_ID}" in url


def test_user_delegation_key_is_replaced_close_to_its_expiry(delegated):
    storage, probe = delegated
    now = datetime.now(timezone.utc)
    old = storage.get_user_delegation_key(now + timedelta(minutes=5))
    # As if it had been requested nearly 7 days ago: 30 minutes left.
    old.signed_expiry = (now + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert storage.get_user_delegation_key(now + timedelta(minutes=20)) is old
    new = storage.get_user_delegation_key(now + timedelta(hours=1))
    assert new is not old
    assert probe.count("POST", DELEGATION_REQUEST) == 2
    assert key_expiry(new) > now + timedelta(days=6)
    assert storage.get_user_delegation_key(now + timedelta(hours=2)) is new


def test_user_delegation_key_limits(delegated, azure_storage):
    storage, probe = delegated
    with pytest.raises(ValueError, match="7 days"):
        storage.get_user_delegation_key(datetime.now(timezone.utc) + timedelta(days=8))
    assert probe.count("POST", DELEGATION_REQUEST) == 0
    # Without a token credential there is no key (account-key storages sign with the key).
    assert azure_storage().get_user_delegation_key(datetime.now(timezone.utc)) is None
