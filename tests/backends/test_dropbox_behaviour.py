"""Dropbox behaviour only this backend has: the write modes on the wire, upload sessions in
4 MiB parts, content-hash verification, revision-pinned ranged reads, listing pages, temporary
links, error translation, rate-limit retries and case-insensitive paths.

Faults are injected in the fake service (tests/servers/dropbox.py); every request reaches it.
"""

from __future__ import annotations

import errno
import io
import os
import threading
import time

import pytest
from django.core.files import File
from django.core.files.base import ContentFile

from storages.backends.dropbox import DropboxFile, DropboxStorage, DropboxStorageException
from storages.errors import StorageError
from tests.servers._dropbox_api import content_hash

MiB = 1024 * 1024
UPLOADS = ("files/upload", "files/upload_session/start", "files/upload_session/append_v2")
SESSION = ("files/upload_session/start", "files/upload_session/append_v2")


@pytest.fixture
def storage(dropbox_storage):
    return dropbox_storage()


@pytest.fixture
def raw(dropbox_server, dropbox_root):
    """The raw SDK on the test's folder: ``raw.read(name)``, ``raw.write(name, data)``."""
    client = dropbox_server.sdk()

    class Raw:
        sdk = client

        @staticmethod
        def path(name: str) -> str:
            return f"{dropbox_root}/{name}"

        def read(self, name: str) -> bytes:
            return bytes(client.files_download(self.path(name))[1].content)

        def write(self, name: str, data: bytes) -> None:
            from dropbox.files import WriteMode

            client.files_upload(data, self.path(name), mode=WriteMode.overwrite)

    return Raw()


def calls(server, *routes: str) -> list:
    return [c for c in list(server.calls) if c.route in routes]


def test_a_small_save_is_one_create_only_upload(storage, dropbox_server, raw):
    dropbox_server.calls.clear()
    storage.save("small.txt", ContentFile(b"small"))
    [upload] = calls(dropbox_server, *UPLOADS, "files/upload_session/finish")
    assert upload.route == "files/upload"
    assert upload.arg["mode"] == {".tag": "add"}
    assert upload.arg["autorename"] is False and upload.arg["strict_conflict"] is True
    assert upload.arg["content_hash"] == content_hash(b"small")
    assert raw.read("small.txt") == b"small"


def test_overwriting_saves_use_overwrite_mode(dropbox_storage, dropbox_server):
    storage = dropbox_storage(file_overwrite=True)
    dropbox_server.calls.clear()
    storage.save("o.txt", ContentFile(b"1"))
    assert calls(dropbox_server, "files/upload")[0].arg["mode"] == {".tag": "overwrite"}


def test_a_large_save_is_an_upload_session_in_4_mib_parts(storage, dropbox_server, raw):
    data = os.urandom(13 * MiB + 7)
    dropbox_server.calls.clear()
    name = storage.save("big/large.bin", ContentFile(data))
    sent = calls(dropbox_server, *UPLOADS, "files/upload_session/finish")
    assert [c.route for c in sent] == [
        "files/upload_session/start",
        *["files/upload_session/append_v2"] * 2,
        "files/upload_session/finish",
    ]
    assert all(c.size == 4 * MiB for c in sent[:-1]) and sent[-1].size == MiB + 7
    assert sent[-1].arg["commit"]["mode"] == {".tag": "add"}
    assert sent[-1].arg["commit"]["strict_conflict"] is True
    assert [c.arg["cursor"]["offset"] for c in sent[1:]] == [4 * MiB, 8 * MiB, 12 * MiB]
    assert raw.read(name) == data
    assert storage.size(name) == len(data)


def test_exactly_one_chunk_is_one_upload_and_one_byte_more_a_session(storage, dropbox_server):
    dropbox_server.calls.clear()
    storage.save("four.bin", ContentFile(b"x" * 4 * MiB))
    storage.save("four-plus.bin", ContentFile(b"x" * (4 * MiB + 1)))
    routes = [c.route for c in calls(dropbox_server, *UPLOADS, "files/upload_session/finish")]
    assert routes == ["files/upload", "files/upload_session/start", "files/upload_session/finish"]


def test_a_conflict_at_commit_picks_the_next_name(storage, dropbox_server, raw):
    data = os.urandom(5 * MiB)
    storage.save("taken.bin", ContentFile(b"first"))

    class Racing(io.BytesIO):
        """Someone else stores the name between the availability check and the commit."""

        name = "racing.bin"
        raced = False

        def read(self, n=-1):
            if not Racing.raced:
                Racing.raced = True
                raw.write("race.bin", b"the other writer")
            return super().read(n)

    name = storage.save("race.bin", File(Racing(data)))
    assert name != "race.bin" and name.startswith("race_")
    assert raw.read("race.bin") == b"the other writer"
    assert raw.read(name) == data


def test_writing_through_open_streams_parts(storage, dropbox_server, raw):
    data = os.urandom(9 * MiB)
    dropbox_server.calls.clear()
    with storage.open("streamed.bin", "wb") as handle:
        for offset in range(0, len(data), 300_001):
            handle.write(data[offset : offset + 300_001])
        # Two full parts went up before the file was closed.
        assert len(calls(dropbox_server, *SESSION)) == 2
    assert raw.read("streamed.bin") == data
    finish = calls(dropbox_server, "files/upload_session/finish")[0]
    assert finish.arg["commit"]["mode"] == {".tag": "overwrite"}  # open('wb') replaces


def test_a_failed_write_stores_nothing(storage, raw, dropbox_server):
    with pytest.raises(RuntimeError), storage.open("half.bin", "wb") as handle:
        handle.write(os.urandom(5 * MiB))
        raise RuntimeError("the writer broke")
    assert not storage.exists("half.bin")


def test_opened_files_are_dropbox_files(storage):
    storage.save("f.txt", ContentFile(b"f"))
    with storage.open("f.txt") as handle:
        assert isinstance(handle, DropboxFile)
    assert DropboxFile("f.txt", storage).read() == b"f"  # the 1.9.1 signature


@pytest.mark.parametrize("size", [100, 5 * MiB + 1])
def test_a_corrupted_new_file_raises_and_is_removed(storage, dropbox_server, size):
    dropbox_server.account.corrupt_writes = 1
    with pytest.raises(DropboxStorageException, match="content hash") as caught:
        storage.save("corrupt.bin", ContentFile(os.urandom(size)))
    assert "removed" in str(caught.value)
    assert not storage.exists("corrupt.bin")


def test_a_corrupted_overwrite_raises(dropbox_storage, dropbox_server):
    storage = dropbox_storage(file_overwrite=True)
    storage.save("over.bin", ContentFile(b"good"))
    dropbox_server.account.corrupt_writes = 1
    with pytest.raises(StorageError, match="corrupted"):
        storage.save("over.bin", ContentFile(b"better"))


def test_reads_are_ranged_and_pinned_to_the_revision(storage, dropbox_server, raw):
    data = os.urandom(3 * MiB)
    storage.save("pinned.bin", ContentFile(data))
    rev = dropbox_server.account.current(raw.path("pinned.bin")).rev
    dropbox_server.calls.clear()
    with storage.open("pinned.bin", "rb") as handle:
        assert handle.read(10) == data[:10]
        raw.write("pinned.bin", b"replaced meanwhile")
        handle.seek(2 * MiB)
        assert handle.read() == data[2 * MiB :]
    downloads = calls(dropbox_server, "files/download")
    assert [c.arg["path"] for c in downloads] == [f"rev:{rev}"] * 2
    assert "Range" not in downloads[0].headers
    assert downloads[1].headers["Range"] == f"bytes={2 * MiB}-"
    assert storage.open("pinned.bin").read() == b"replaced meanwhile"


def test_modified_time_is_server_modified(storage, raw):
    storage.save("t.txt", ContentFile(b"t"))
    meta = raw.sdk.files_get_metadata(raw.path("t.txt"))
    modified = storage.get_modified_time("t.txt")
    assert modified.replace(tzinfo=None) == meta.server_modified
    with pytest.raises(NotImplementedError):
        storage.get_created_time("t.txt")


def test_listdir_follows_every_page(dropbox_storage, dropbox_server):
    class Paged(DropboxStorage):
        list_page_size = 2

    storage = dropbox_storage(Paged)
    for i in range(7):
        storage.save(f"paged/f{i}.txt", ContentFile(b"x"))
    storage.save("paged/sub/g.txt", ContentFile(b"x"))
    dropbox_server.calls.clear()
    dirs, files = storage.listdir("paged")
    assert dirs == ["sub"] and files == [f"f{i}.txt" for i in range(7)]
    routes = dropbox_server.routes()
    assert routes == ["files/list_folder"] + ["files/list_folder/continue"] * 3
    assert dropbox_server.calls[0].arg["limit"] == 2


def test_listdir_of_a_missing_folder_or_a_file_is_empty(storage):
    storage.save("only.txt", ContentFile(b"x"))
    assert storage.listdir("nowhere") == ([], [])
    assert storage.listdir("only.txt") == ([], [])


def test_paths_are_case_insensitive(storage, raw):
    first = storage.save("Docs/Report.TXT", ContentFile(b"1"))
    assert storage.exists("docs/report.txt")
    # The service sees the same file, so a create-only save picks another name.
    second = storage.save("docs/report.txt", ContentFile(b"2"))
    assert second != "docs/report.txt"
    assert storage.open("DOCS/REPORT.txt").read() == b"1"
    # A folder keeps the case it was created with; listdir shows what the service shows.
    assert storage.listdir("")[0] == ["Docs"]
    assert sorted(storage.listdir("docs")[1]) == sorted(["Report.TXT", second.split("/")[1]])
    assert first == "Docs/Report.TXT"


def test_a_folder_exists_but_does_not_open(storage):
    storage.save("folder/x.txt", ContentFile(b"x"))
    assert storage.exists("folder")
    with pytest.raises(IsADirectoryError):
        storage.open("folder")


def test_exists_of_the_root(dropbox_storage):
    storage = dropbox_storage()
    assert not storage.exists("")  # the test's root folder does not exist yet
    storage.save("x.txt", ContentFile(b"x"))
    assert storage.exists("")


def test_url_is_a_temporary_link(storage, dropbox_server):
    storage.save("web/page one.txt", ContentFile(b"served"))
    dropbox_server.calls.clear()
    url = storage.url("web/page one.txt")
    assert dropbox_server.routes() == ["files/get_temporary_link"]
    assert dropbox_server.fetch(url) == b"served"
    with pytest.raises(FileNotFoundError):
        storage.url("web/missing.txt")


def test_delete_of_files_and_folders(storage, raw):
    storage.save("d/keep/a.txt", ContentFile(b"a"))
    storage.save("d/b.txt", ContentFile(b"b"))
    storage.delete("d/b.txt")
    assert not storage.exists("d/b.txt")
    storage.delete("d/b.txt")  # missing: not an error
    with pytest.raises(DropboxStorageException) as caught:
        storage.delete("d/keep")  # the service would delete the folder with its files
    assert caught.value.errno == errno.ENOTEMPTY
    assert raw.read("d/keep/a.txt") == b"a"
    storage.delete("d/keep/a.txt")
    storage.delete("d/keep")  # empty now
    assert storage.listdir("d") == ([], [])


def test_a_missing_file_is_file_not_found_and_a_dropbox_error(storage):
    with pytest.raises(FileNotFoundError) as caught:
        storage.size("missing.txt")
    assert isinstance(caught.value, DropboxStorageException)
    assert caught.value.__cause__ is not None


def test_an_expired_upload_session_is_no_missing_file(storage, dropbox_server):
    error = {".tag": "lookup_failed", "lookup_failed": {".tag": "not_found"}}
    dropbox_server.fail("files/upload_session/finish", 409, error)
    with pytest.raises(DropboxStorageException) as caught:
        storage.save("expired.bin", ContentFile(os.urandom(5 * MiB)))
    assert not isinstance(caught.value, FileNotFoundError)


def test_other_service_failures_are_dropbox_storage_errors(dropbox_storage, dropbox_server):
    storage = dropbox_storage(client_options={"max_retries_on_error": 0})
    dropbox_server.fail("files/get_metadata", 500)
    with pytest.raises(DropboxStorageException) as caught:
        storage.exists("x")
    assert "InternalServerError" in str(caught.value)
    space = {".tag": "path", "reason": {".tag": "insufficient_space"}, "upload_session_id": ""}
    dropbox_server.fail("files/upload", 409, space)
    with pytest.raises(DropboxStorageException, match="insufficient_space"):
        storage.save("full.txt", ContentFile(b"x"))
    denied = {".tag": "path", "reason": {".tag": "no_write_permission"}, "upload_session_id": ""}
    dropbox_server.fail("files/upload", 409, denied)
    with pytest.raises(PermissionError):
        storage.save("denied.txt", ContentFile(b"x"))


def test_a_refused_token_is_permission_denied(dropbox_storage):
    storage = dropbox_storage(oauth2_access_token="not-valid-anymore")
    with pytest.raises(PermissionError) as caught:
        storage.exists("x")
    assert "invalid_access_token" in str(caught.value)
    assert "not-valid-anymore" not in str(caught.value)


def test_rate_limits_are_waited_out(storage, dropbox_server):
    storage.save("busy.txt", ContentFile(b"b"))
    dropbox_server.throttle("files/get_metadata", retry_after=1)
    started = time.monotonic()
    assert storage.exists("busy.txt")
    assert time.monotonic() - started >= 1  # the service's Retry-After
    busy = {".tag": "path", "reason": {".tag": "too_many_write_operations"}}
    dropbox_server.fail("files/upload", 409, {**busy, "upload_session_id": ""}, times=2)
    storage.save("written.txt", ContentFile(b"w"))
    assert storage.open("written.txt").read() == b"w"


def test_rate_limit_retries_stop_after_the_bounded_wait(dropbox_storage, dropbox_server):
    class Impatient(DropboxStorage):
        max_retry_wait = 2.0

    storage = dropbox_storage(Impatient)
    dropbox_server.throttle("files/get_metadata", retry_after=1, times=10)
    started = time.monotonic()
    with pytest.raises(DropboxStorageException, match="RateLimitError"):
        storage.exists("x")
    assert time.monotonic() - started < 3.5


def test_update_mode_replaces_the_revision_it_saw(dropbox_storage, raw):
    storage = dropbox_storage(write_mode="update")
    assert storage.save("u.txt", ContentFile(b"1")) == "u.txt"  # missing: created
    assert storage.save("u.txt", ContentFile(b"2")) == "u.txt"
    assert raw.read("u.txt") == b"2"


def test_update_mode_refuses_to_replace_a_concurrent_change(dropbox_storage, raw):
    storage = dropbox_storage(write_mode="update")
    storage.save("u.txt", ContentFile(b"mine"))
    handle = storage.open("u.txt", "wb")
    handle.write(b"stale edit")
    raw.write("u.txt", b"someone else's edit")
    with pytest.raises(FileExistsError, match="update"):
        handle.close()
    assert raw.read("u.txt") == b"someone else's edit"


def test_one_storage_is_shared_by_threads(storage):
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            name = storage.save(f"threads/{i}.bin", ContentFile(os.urandom(5 * MiB)))
            assert storage.size(name) == 5 * MiB
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(storage.listdir("threads")[1]) == 4
