"""FTPS (``ftps://``): explicit TLS on the control and the data channel, and verification of
the server's certificate, against a server that refuses clients that do not protect both."""

from __future__ import annotations

import os
import pickle
import ssl

import pytest
from django.core.files.base import ContentFile
from django.test import override_settings

from storages.backends.ftp import FTPStorage, FTPStorageException

MiB = 1024 * 1024


def test_files_go_both_ways_over_protected_channels(ftp_server, ftp_storage, ftp_area):
    storage = ftp_storage(listener="tls")
    data = os.urandom(5 * MiB + 1)
    mark = ftp_server.mark()
    with storage.open("dir/big.bin", "wb") as handle:
        handle.write(data)
    assert ftp_server.local(f"{ftp_area}/dir/big.bin").read_bytes() == data
    with storage.open("dir/big.bin") as handle:
        handle.seek(4 * MiB)
        assert handle.read() == data[4 * MiB :]
    assert storage.listdir("dir") == ([], ["big.bin"])
    assert storage.size("dir/big.bin") == len(data)
    commands = ftp_server.commands(mark, "tls")
    assert commands[:2] == ["AUTH TLS", "FEAT"]
    assert "PBSZ 0" in commands and "PROT P" in commands


def test_the_server_refuses_clients_without_tls(ftp_server, ftp_area, ftp_storage):
    storage = ftp_storage(listener="tls", scheme="ftp")
    with pytest.raises(PermissionError, match="SSL/TLS required") as info:
        storage.exists("x")
    assert isinstance(info.value, FTPStorageException)


def test_the_certificate_is_verified_by_default(ftp_server, ftp_area):
    storage = FTPStorage(location=ftp_server.url(ftp_area, "tls", "ftps"))
    try:
        with pytest.raises(FTPStorageException, match="certificate verify failed"):
            storage.save("never.txt", ContentFile(b"x"))
    finally:
        storage.close()
    assert not ftp_server.local(f"{ftp_area}/never.txt").exists()


def test_ca_file_from_django_settings(ftp_server, ftp_area):
    with override_settings(
        FTP_STORAGE_LOCATION=ftp_server.url(ftp_area, "tls", "ftps"),
        FTP_STORAGE_CA_FILE=str(ftp_server.ca_file),
    ):
        storage = FTPStorage()
        try:
            storage.save("trusted.txt", ContentFile(b"t"))
        finally:
            storage.close()
    assert ftp_server.local(f"{ftp_area}/trusted.txt").read_bytes() == b"t"


def test_an_ssl_context_is_used_and_kept_out_of_pickles(ftp_server, ftp_area, ftp_storage):
    context = ssl.create_default_context(cafile=str(ftp_server.ca_file))
    storage = ftp_storage(listener="tls", ca_file=None, ssl_context=context)
    storage.save("ctx.txt", ContentFile(b"c"))
    assert "ssl_context" not in storage.deconstruct()[2]
    copy = pickle.loads(pickle.dumps(storage))  # an SSLContext itself cannot be pickled
    try:
        assert copy.open("ctx.txt").read() == b"c"
    finally:
        copy.close()


def test_a_context_that_trusts_nothing_fails(ftp_server, ftp_storage):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies, with no CA loaded
    storage = ftp_storage(listener="tls", ca_file=None, ssl_context=context)
    with pytest.raises(FTPStorageException, match="certificate verify failed"):
        storage.exists("x")
