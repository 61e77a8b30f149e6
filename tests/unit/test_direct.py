"""Direct uploads: tokens, content-type patterns, the fields, the widget and the grant view.

The form tests run against moto (a real S3 API): the grant is used over HTTP as the browser
would, and the form field's cleaning is what decides.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
import requests
from django import forms
from django.core import signing
from django.core.files.storage import FileSystemStorage, InMemoryStorage
from django.db import models
from django.test import RequestFactory
from django.test.utils import isolate_apps

import storages.direct as direct
from storages.direct import (
    DirectUploadError,
    DirectUploadField,
    DirectUploadFormField,
    DirectUploadWidget,
    content_type_allowed,
    read_token,
    sign_token,
)
from storages.direct.grants import normalize_content_types
from storages.direct.views import grant_view


def test_token_round_trip_and_tampering() -> None:
    token = sign_token({"n": "a.txt", "m": 5}, scope="app.model.field")
    assert read_token(token, scope="app.model.field") == {"n": "a.txt", "m": 5}
    with pytest.raises(DirectUploadError) as other_scope:
        read_token(token, scope="app.model.other")
    assert other_scope.value.code == "bad_token"
    altered = token.replace(token[3], "A" if token[3] != "A" else "B", 1)
    with pytest.raises(DirectUploadError) as tampered:
        read_token(altered, scope="app.model.field")
    assert tampered.value.code == "bad_token"


def test_token_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    token = sign_token({"n": "a.txt"})
    now = signing.time.time()
    monkeypatch.setattr(signing.time, "time", lambda: now + 120)
    assert read_token(token, max_age=200)["n"] == "a.txt"
    with pytest.raises(DirectUploadError) as expired:
        read_token(token, max_age=60)
    assert expired.value.code == "expired"


def test_token_must_hold_a_mapping() -> None:
    token = signing.dumps(["n"], salt="storages.direct.upload:")
    with pytest.raises(DirectUploadError):
        read_token(token)


@pytest.mark.parametrize(
    ("content_type", "patterns", "allowed"),
    [
        ("image/png", ["image/*"], True),
        ("IMAGE/PNG; charset=binary", ["image/*"], True),
        ("text/html", ["image/*", "application/pdf"], False),
        ("application/pdf", ["image/*", "application/pdf"], True),
        ("", ["image/*"], False),
        (None, None, True),
        ("text/html", None, True),
    ],
)
def test_content_type_patterns(
    content_type: str | None, patterns: list[str] | None, allowed: bool
) -> None:
    assert content_type_allowed(content_type, patterns) is allowed


def test_content_types_are_normalized() -> None:
    assert normalize_content_types("Image/*") == ["image/*"]
    assert normalize_content_types(None) is None
    with pytest.raises(ValueError):
        normalize_content_types([])


@pytest.mark.parametrize("storage", [FileSystemStorage(), InMemoryStorage()])
def test_other_storages_say_which_backends_support_it(storage: Any) -> None:
    assert not direct.supports_direct_uploads(storage)
    with pytest.raises(NotImplementedError) as error:
        direct.direct_upload(storage, "a.txt", max_size=10)
    for backend in ("S3Storage", "GoogleCloudStorage", "AzureStorage"):
        assert backend in str(error.value)
    with pytest.raises(NotImplementedError):
        direct.confirm_direct_upload(storage, "token")


def test_backends_without_a_protocol_raise_not_implemented() -> None:
    from storages.direct.grants import DirectUploadRequest, DirectUploads

    class Plain(DirectUploads):
        pass

    request = DirectUploadRequest("a", "a", 1, "text/plain", None, None, 60, 10)
    with pytest.raises(NotImplementedError, match="does not support direct browser uploads"):
        Plain._direct_grant(object.__new__(Plain), request)


def _offline_s3() -> Any:
    from storages.backends.s3 import S3Storage

    # Nothing here reaches the endpoint: the arguments are refused first.
    return S3Storage(
        bucket_name="b", endpoint_url="http://127.0.0.1:9", access_key="k", secret_key="s"
    )


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"max_size": -1}, ValueError),
        ({"max_size": True}, ValueError),
        ({"max_size": 10, "expires": 0}, ValueError),
        ({"max_size": 10, "expires": 8 * 24 * 3600}, ValueError),
        ({"max_size": 10, "size": 11}, DirectUploadError),
        (
            {"max_size": 10, "content_types": "image/*", "content_type": "text/html"},
            DirectUploadError,
        ),
        ({"max_size": 10, "content_types": "image/*"}, DirectUploadError),  # .txt guessed
    ],
)
def test_bad_grant_arguments_are_refused_before_any_request(
    options: dict[str, Any], error: type[Exception]
) -> None:
    assert direct.supports_direct_uploads(_offline_s3())
    with pytest.raises(error):
        _offline_s3().direct_upload("a.txt", **options)


@isolate_apps("storages")
def test_model_field_deconstructs_and_gives_the_direct_form_field() -> None:
    storage = _offline_s3()

    class Paper(models.Model):
        file = DirectUploadField(storage=storage, max_size=500, content_types="application/pdf")

        class Meta:
            app_label = "storages"

    field = Paper._meta.get_field("file")
    _, path, _, kwargs = field.deconstruct()
    assert path == "storages.direct.fields.DirectUploadField"
    assert kwargs["max_size"] == 500 and kwargs["content_types"] == ["application/pdf"]
    assert field.direct_scope == "storages.paper.file"
    from django.contrib.admin.widgets import AdminFileWidget

    # The admin hands every FileField its own widget; it would post the file through Django.
    form_field = field.formfield(widget=AdminFileWidget)
    assert isinstance(form_field, DirectUploadFormField)
    assert isinstance(form_field.widget, DirectUploadWidget)
    assert form_field.widget.accept == "application/pdf"
    assert signing.loads(form_field.widget.field_ref, salt="storages.direct.field") == (
        "storages.paper.file"
    )


@isolate_apps("storages")
def test_admin_form_uses_the_widget_and_its_script() -> None:
    from django.contrib.admin import ModelAdmin
    from django.contrib.admin.sites import AdminSite

    class Report(models.Model):
        file = DirectUploadField(storage=_offline_s3())

        class Meta:
            app_label = "storages"

    admin = ModelAdmin(Report, AdminSite())
    form = admin.get_form(RequestFactory().get("/"), fields=["file"])()
    assert isinstance(form.fields["file"].widget, DirectUploadWidget)
    assert "storages/direct-upload.js" in str(form.media)
    assert not form.is_multipart()  # the file never travels with the form


def test_widget_renders_an_unnamed_file_input_and_the_token() -> None:
    widget = DirectUploadWidget(grant_url="/uploads/grant/", field_ref="REF", accept="image/*")
    html = widget.render("file", "TOKEN", attrs={"id": "id_file"})
    assert 'data-grant-url="/uploads/grant/"' in html and 'data-field="REF"' in html
    assert '<input type="file" data-role="file" id="id_file" accept="image/*">' in html
    assert 'type="hidden" name="file" value="TOKEN"' in html
    assert widget.value_from_datadict({"file": "T"}, {}, "file") == "T"
    assert widget.value_from_datadict({"file-clear": "on"}, {}, "file") is False
    assert widget.value_from_datadict({}, {}, "file") is None
    assert widget.value_omitted_from_data({}, {}, "file")


def test_widget_without_grant_url_explains_the_urlconf() -> None:
    from django.core.exceptions import ImproperlyConfigured
    from django.test import override_settings

    with (
        override_settings(ROOT_URLCONF="tests.unit.test_direct"),
        pytest.raises(ImproperlyConfigured, match=r"storages\.direct\.urls"),
    ):
        DirectUploadWidget().render("file", None)


urlpatterns: list[Any] = []  # the empty URLconf of the test above


def _post(body: Any) -> Any:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return RequestFactory().post("/grant/", data=data, content_type="application/json")


def test_grant_view_refuses_bad_requests() -> None:
    assert grant_view(RequestFactory().get("/grant/")).status_code == 405
    assert grant_view(_post(b"not json")).status_code == 400
    response = grant_view(_post({"field": "forged", "filename": "a.txt", "size": 1}))
    assert response.status_code == 400
    assert json.loads(response.content)["code"] == "bad_field"
    ref = signing.dumps("storages.nomodel.file", salt="storages.direct.field")
    response = grant_view(_post({"field": ref, "filename": "a.txt", "size": 1}))
    assert json.loads(response.content)["code"] == "bad_field"


@pytest.fixture
def text_form(s3_storage: Any) -> tuple[Any, type[forms.Form]]:
    storage = s3_storage(location="media")

    class TextForm(forms.Form):
        file = DirectUploadFormField(
            storage=storage, max_size=100, content_types="text/*", scope="s", grant_url="/g/"
        )

    return storage, TextForm


def _browser_post(grant: dict[str, Any], data: bytes) -> None:
    response = requests.post(
        grant["url"], data=grant["fields"], files={"file": ("f", data)}, timeout=30
    )
    assert response.status_code == 204


def test_form_field_cleans_a_token_into_the_stored_name(text_form: Any) -> None:
    storage, form_class = text_form
    grant = storage.direct_upload("notes.txt", max_size=100, content_types="text/*", scope="s")
    _browser_post(grant, b"hello")
    form = form_class(data={"file": grant["token"]})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["file"] == grant["name"]
    assert storage.open(grant["name"]).read() == b"hello"


def test_form_field_reports_a_bad_upload_and_removes_it(text_form: Any) -> None:
    storage, form_class = text_form
    grant = storage.direct_upload("notes.txt", max_size=100, content_types="text/*", scope="s")
    _browser_post(grant, os.urandom(101))  # moto does not enforce the policy's size range
    form = form_class(data={"file": grant["token"]})
    assert not form.is_valid()
    assert "at most 100 bytes" in form.errors["file"][0]
    assert not storage.exists(grant["name"])
    assert not form_class(data={"file": "garbage"}).is_valid()
    assert form_class(data={}).errors["file"] == ["This field is required."]


@isolate_apps("storages")
def test_model_form_stores_the_name_without_uploading_again(s3_storage: Any) -> None:
    storage = s3_storage(location="media")

    class Sheet(models.Model):
        file = DirectUploadField(storage=storage, upload_to="sheets/", max_size=100)

        class Meta:
            app_label = "storages"

    class SheetForm(forms.ModelForm):
        class Meta:
            model = Sheet
            fields = ["file"]

    field = Sheet._meta.get_field("file")
    grant = storage.direct_upload(
        field.generate_filename(None, "data.csv"), max_size=100, scope=field.direct_scope
    )
    assert grant["name"].startswith("sheets/data_")
    _browser_post(grant, b"a,b\n1,2\n")
    form = SheetForm(data={"file": grant["token"]})
    assert form.is_valid(), form.errors
    sheet = form.save(commit=False)
    assert sheet.file.name == grant["name"]
    assert sheet.file._committed  # pre_save will not upload anything
    assert sheet.file.read() == b"a,b\n1,2\n"


def test_every_other_storage_refuses_direct_uploads_by_name():
    from storages.backends.apache_libcloud import LibCloudStorage
    from storages.backends.dropbox import DropboxStorage
    from storages.backends.ftp import FTPStorage
    from storages.backends.sftpstorage import SFTPStorage

    for cls in (SFTPStorage, FTPStorage, DropboxStorage, LibCloudStorage):
        storage = cls.__new__(cls)  # no settings needed: the refusal comes before any
        with pytest.raises(NotImplementedError, match=r"S3Storage.*GoogleCloudStorage"):
            storage.direct_upload("a.txt", max_size=10)
        with pytest.raises(NotImplementedError, match=cls.__name__):
            storage.confirm_direct_upload("token")
