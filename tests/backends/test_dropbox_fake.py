"""The fake Dropbox API (tests/servers/dropbox.py) against the official SDK: each route answers
what the SDK expects, errors decode into the SDK's own error unions, and the fake checks what
the service checks (tokens, content hashes, session offsets, hosts)."""

from __future__ import annotations

import os

import pytest
from dropbox import files
from dropbox.exceptions import ApiError, AuthError, BadInputError, RateLimitError

from tests.servers._dropbox_api import content_hash

MiB = 1024 * 1024


@pytest.fixture
def sdk(dropbox_server):
    return dropbox_server.sdk()


@pytest.fixture
def root(dropbox_root):
    return dropbox_root


def test_content_hash_matches_the_sdk():
    from dropbox.content_hash import content_hash as sdk_hash

    for data in (b"", b"x", os.urandom(4 * MiB), os.urandom(9 * MiB + 1)):
        assert content_hash(data) == sdk_hash(data)


def test_upload_then_metadata_of_file_and_folder(sdk, root):
    meta = sdk.files_upload(b"hello", f"{root}/Dir/A.txt")
    assert isinstance(meta, files.FileMetadata)
    assert (meta.name, meta.size, meta.path_display) == ("A.txt", 5, f"{root}/Dir/A.txt")
    assert meta.content_hash == content_hash(b"hello")
    assert len(meta.rev) >= 9
    same = sdk.files_get_metadata(f"{root}/dir/a.TXT")  # paths are case-insensitive
    assert isinstance(same, files.FileMetadata) and same.rev == meta.rev
    folder = sdk.files_get_metadata(f"{root}/DIR")
    assert isinstance(folder, files.FolderMetadata) and folder.name == "Dir"


def test_missing_path_is_a_lookup_not_found(sdk, root):
    with pytest.raises(ApiError) as caught:
        sdk.files_get_metadata(f"{root}/nothing.txt")
    assert caught.value.error.is_path() and caught.value.error.get_path().is_not_found()


def test_add_mode_conflict_and_its_variants(sdk, root):
    path = f"{root}/c.txt"
    sdk.files_upload(b"one", path)
    with pytest.raises(ApiError) as caught:
        sdk.files_upload(b"two", path, mode=files.WriteMode.add, strict_conflict=True)
    reason = caught.value.error.get_path().reason
    assert reason.is_conflict() and reason.get_conflict().is_file()
    # The same content in add mode is no conflict unless strict_conflict says so.
    assert sdk.files_upload(b"one", path).content_hash == content_hash(b"one")
    with pytest.raises(ApiError):
        sdk.files_upload(b"one", path, strict_conflict=True)
    renamed = sdk.files_upload(b"two", path, autorename=True)
    assert renamed.name == "c (1).txt"


def test_overwrite_and_update_modes(sdk, root):
    path = f"{root}/m.txt"
    first = sdk.files_upload(b"1", path)
    second = sdk.files_upload(b"2", path, mode=files.WriteMode.overwrite)
    assert second.rev != first.rev and second.id == first.id
    with pytest.raises(ApiError) as caught:
        sdk.files_upload(b"3", path, mode=files.WriteMode.update(first.rev))
    assert caught.value.error.get_path().reason.is_conflict()
    third = sdk.files_upload(b"3", path, mode=files.WriteMode.update(second.rev))
    assert sdk.files_download(path)[1].content == b"3"
    # An old revision stays downloadable by its rev.
    assert sdk.files_download(f"rev:{first.rev}")[1].content == b"1"
    assert third.rev != second.rev


def test_upload_into_a_file_or_onto_a_folder_conflicts(sdk, root):
    sdk.files_upload(b"f", f"{root}/file")
    with pytest.raises(ApiError) as caught:
        sdk.files_upload(b"x", f"{root}/file/inner.txt")
    assert caught.value.error.get_path().reason.get_conflict().is_file_ancestor()
    sdk.files_upload(b"x", f"{root}/folder/inner.txt")
    with pytest.raises(ApiError) as caught:
        sdk.files_upload(b"x", f"{root}/folder", mode=files.WriteMode.overwrite)
    assert caught.value.error.get_path().reason.get_conflict().is_folder()


def test_a_body_that_does_not_match_its_content_hash_is_refused(sdk, root):
    with pytest.raises(ApiError) as caught:
        sdk.files_upload(b"payload", f"{root}/h.txt", content_hash=content_hash(b"other"))
    assert caught.value.error.is_content_hash_mismatch()
    with pytest.raises(ApiError):
        sdk.files_get_metadata(f"{root}/h.txt")


def test_download_whole_and_ranged(sdk, root, dropbox_server):
    data = os.urandom(100_000)
    sdk.files_upload(data, f"{root}/r.bin")
    meta, response = sdk.files_download(f"{root}/r.bin")
    assert response.status_code == 200 and response.content == data
    assert meta.size == len(data) and meta.content_hash == content_hash(data)
    _meta, response = sdk.files_download(f"{root}/r.bin", extra_headers={"Range": "bytes=99990-"})
    assert response.status_code == 206
    assert response.headers["Content-Range"] == f"bytes 99990-99999/{len(data)}"
    assert response.content == data[99990:]
    _meta, response = sdk.files_download(f"{root}/r.bin", extra_headers={"Range": "bytes=-5"})
    assert response.content == data[-5:]
    assert dropbox_server.calls[-1].headers["Range"] == "bytes=-5"


def test_download_of_a_folder_is_not_a_file(sdk, root):
    sdk.files_upload(b"x", f"{root}/d/x.txt")
    with pytest.raises(ApiError) as caught:
        sdk.files_download(f"{root}/d")
    assert caught.value.error.get_path().is_not_file()


def test_non_ascii_names_travel_in_headers(sdk, root):
    path = f"{root}/ünïcødé/файл 🎉.txt"
    meta = sdk.files_upload("é".encode(), path)
    assert meta.path_display == path
    meta, response = sdk.files_download(path)
    assert meta.name == "файл 🎉.txt" and response.content == "é".encode()


def test_upload_session_in_4_mib_chunks(sdk, root, dropbox_server):
    data = os.urandom(10 * MiB + 3)
    chunk = 4 * MiB
    started = sdk.files_upload_session_start(data[:chunk])
    cursor = files.UploadSessionCursor(started.session_id, chunk)
    sdk.files_upload_session_append_v2(data[chunk : 2 * chunk], cursor)
    cursor.offset = 2 * chunk
    commit = files.CommitInfo(path=f"{root}/big.bin", mode=files.WriteMode.add)
    meta = sdk.files_upload_session_finish(data[2 * chunk :], cursor, commit)
    assert meta.size == len(data) and meta.content_hash == content_hash(data)
    assert sdk.files_download(f"{root}/big.bin")[1].content == data
    assert dropbox_server.account.current(f"{root}/big.bin").parts == 3
    # Each request carried the content hash of its own body.
    bodies = [c for c in dropbox_server.calls if c.route.startswith("files/upload_session")][-3:]
    assert all(c.arg["content_hash"] for c in bodies)


def test_upload_session_offsets_are_checked(sdk, root):
    started = sdk.files_upload_session_start(b"abc")
    with pytest.raises(ApiError) as caught:
        sdk.files_upload_session_append_v2(b"d", files.UploadSessionCursor(started.session_id, 2))
    error = caught.value.error
    assert error.is_incorrect_offset() and error.get_incorrect_offset().correct_offset == 3
    commit = files.CommitInfo(path=f"{root}/s.txt")
    with pytest.raises(ApiError) as caught:
        sdk.files_upload_session_finish(
            b"", files.UploadSessionCursor(started.session_id, 9), commit
        )
    lookup = caught.value.error.get_lookup_failed()
    assert lookup.get_incorrect_offset().correct_offset == 3
    with pytest.raises(ApiError) as caught:
        sdk.files_upload_session_append_v2(b"d", files.UploadSessionCursor("nope", 0))
    assert caught.value.error.is_not_found()
    sdk.files_upload_session_finish(b"d", files.UploadSessionCursor(started.session_id, 3), commit)
    assert sdk.files_download(f"{root}/s.txt")[1].content == b"abcd"


def test_finish_in_add_mode_conflicts_on_a_taken_name(sdk, root):
    sdk.files_upload(b"there", f"{root}/t.txt")
    started = sdk.files_upload_session_start(b"new")
    commit = files.CommitInfo(path=f"{root}/t.txt", strict_conflict=True)
    with pytest.raises(ApiError) as caught:
        sdk.files_upload_session_finish(
            b"", files.UploadSessionCursor(started.session_id, 3), commit
        )
    assert caught.value.error.get_path().is_conflict()


def test_list_folder_pages_with_cursors(sdk, root, dropbox_server):
    for i in range(8):
        sdk.files_upload(b"x", f"{root}/list/f{i}.txt")
    sdk.files_upload(b"x", f"{root}/list/sub/deep.txt")
    page = sdk.files_list_folder(f"{root}/list", limit=3)
    names, pages = [e.name for e in page.entries], 1
    while page.has_more:
        page = sdk.files_list_folder_continue(page.cursor)
        names += [e.name for e in page.entries]
        pages += 1
    assert pages == 3
    assert sorted(names) == sorted([f"f{i}.txt" for i in range(8)] + ["sub"])
    kinds = {e.name: type(e) for e in sdk.files_list_folder(f"{root}/list").entries}
    assert kinds["sub"] is files.FolderMetadata and kinds["f0.txt"] is files.FileMetadata
    assert dropbox_server.routes()[-1] == "files/list_folder"


def test_list_folder_errors(sdk, root):
    with pytest.raises(ApiError) as caught:
        sdk.files_list_folder(f"{root}/missing")
    assert caught.value.error.get_path().is_not_found()
    sdk.files_upload(b"x", f"{root}/plain.txt")
    with pytest.raises(ApiError) as caught:
        sdk.files_list_folder(f"{root}/plain.txt")
    assert caught.value.error.get_path().is_not_folder()
    with pytest.raises(ApiError) as caught:
        sdk.files_list_folder_continue("not-a-cursor")
    assert caught.value.error.is_reset()


def test_delete_file_folder_and_missing(sdk, root):
    sdk.files_upload(b"x", f"{root}/del/a.txt")
    sdk.files_upload(b"x", f"{root}/del/b/c.txt")
    result = sdk.files_delete_v2(f"{root}/del/a.txt")
    assert isinstance(result.metadata, files.FileMetadata)
    with pytest.raises(ApiError) as caught:
        sdk.files_delete_v2(f"{root}/del/a.txt")
    assert caught.value.error.get_path_lookup().is_not_found()
    assert isinstance(sdk.files_delete_v2(f"{root}/del").metadata, files.FolderMetadata)
    with pytest.raises(ApiError):
        sdk.files_get_metadata(f"{root}/del/b/c.txt")


def test_temporary_link_serves_the_file(sdk, root, dropbox_server):
    sdk.files_upload(b"linked", f"{root}/web/some file.txt")
    result = sdk.files_get_temporary_link(f"{root}/web/some file.txt")
    assert result.metadata.name == "some file.txt"
    assert result.link.startswith("https://") and "some%20file.txt" in result.link
    assert dropbox_server.fetch(result.link) == b"linked"
    with pytest.raises(ApiError):
        sdk.files_get_temporary_link(f"{root}/web/missing.txt")


def test_a_wrong_token_is_an_auth_error(dropbox_server, root):
    with pytest.raises(AuthError) as caught:
        dropbox_server.sdk(token="wrong").files_get_metadata(f"{root}/x")
    assert caught.value.error.is_invalid_access_token()


def test_refresh_token_flow(dropbox_server, root):
    client = dropbox_server.sdk(
        oauth2_access_token=None,
        oauth2_refresh_token=dropbox_server.refresh_token,
        app_key=dropbox_server.app_key,
        app_secret=dropbox_server.app_secret,
    )
    # The SDK refreshes on the module's API host; point it at the fake for this client.
    before = dropbox_server.refreshes
    client.refresh_access_token(host=dropbox_server.api_host)
    client.files_upload(b"x", f"{root}/refreshed.txt")
    assert dropbox_server.refreshes == before + 1
    dropbox_server.expire_tokens()
    expired = dropbox_server.sdk(token=client._oauth2_access_token)
    with pytest.raises(AuthError) as caught:
        expired.files_get_metadata(f"{root}/refreshed.txt")
    assert caught.value.error.is_expired_access_token()
    bad = dropbox_server.sdk(
        oauth2_access_token=None,
        oauth2_refresh_token="not-the-token",
        app_key=dropbox_server.app_key,
        app_secret=dropbox_server.app_secret,
    )
    with pytest.raises(AuthError):
        bad.refresh_access_token(host=dropbox_server.api_host)


def test_injected_rate_limit_carries_retry_after(dropbox_server, sdk, root):
    dropbox_server.throttle("files/get_metadata", retry_after=3)
    client = dropbox_server.sdk(max_retries_on_rate_limit=0)
    with pytest.raises(RateLimitError) as caught:
        client.files_get_metadata(f"{root}/x")
    assert caught.value.backoff == 3
    assert caught.value.error.reason.is_too_many_requests()
    with pytest.raises(ApiError):
        client.files_get_metadata(f"{root}/x")  # the fault was used up: the real answer


def test_routes_are_served_on_their_own_host(dropbox_server, root):
    client = dropbox_server.sdk()
    client._host_map["content"] = dropbox_server.api_host
    with pytest.raises(BadInputError):
        client.files_upload(b"x", f"{root}/wrong-host.txt")
