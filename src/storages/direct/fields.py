"""The model field, form field and widget of direct browser uploads.

The widget's file input has no ``name``: the file never travels with the form. The page's
script (``storages/direct-upload.js``) asks the grant view for a grant, uploads the file
straight to the service with a progress bar and puts the grant's token in a hidden input; the
form field turns that token back into a stored name with ``confirm_direct_upload`` (every check
there), and the model's ``FileField`` machinery stores that name without uploading anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms
from django.core import signing
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import models
from django.urls import NoReverseMatch, reverse

from storages._direct_default import DEFAULT_CONFIRM_MAX_AGE, unsupported_message
from storages.direct.grants import (
    DirectUploadError,
    content_type_allowed,
    normalize_content_types,
)

__all__ = ["DirectUploadField", "DirectUploadFormField", "DirectUploadWidget", "field_ref"]

#: The salt of the reference to a model field that the widget hands to the grant view.
FIELD_SALT = "storages.direct.field"
#: How long a rendered form may ask for grants (seconds): a leaked reference stops working.
FIELD_REF_MAX_AGE = 24 * 3600
#: The URL name of :func:`storages.direct.views.grant_view` in ``storages.direct.urls``.
GRANT_URL_NAME = "storages-direct-upload"
DEFAULT_MAX_SIZE = 10 * 1024 * 1024


def field_ref(scope: str) -> str:
    """Return the signed reference to the model field ``scope`` (``app.model.field``)."""
    return str(signing.dumps(scope, salt=FIELD_SALT))


def read_field_ref(ref: str) -> str:
    """Return the scope a reference made by :func:`field_ref` names, or raise
    ``signing.BadSignature`` (altered or older than :data:`FIELD_REF_MAX_AGE`)."""
    return str(signing.loads(ref, salt=FIELD_SALT, max_age=FIELD_REF_MAX_AGE))


class DirectUploadWidget(forms.Widget):
    """A file picker that uploads straight to the service and submits only a token."""

    template_name = "storages/direct_upload_widget.html"
    needs_multipart_form = False

    class Media:
        js = ("storages/direct-upload.js",)

    def __init__(
        self,
        attrs: dict[str, Any] | None = None,
        *,
        grant_url: str | None = None,
        field_ref: str = "",
        accept: str = "",
        clearable: bool = False,
    ) -> None:
        super().__init__(attrs)
        self.grant_url = grant_url
        self.field_ref = field_ref
        self.accept = accept
        self.clearable = clearable

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        """Return the template context: the grant URL, the field reference, the current file."""
        context: dict[str, Any] = dict(super().get_context(name, value, attrs))
        widget = context["widget"]
        widget["grant_url"] = self._grant_url()
        widget["field_ref"] = self.field_ref
        widget["accept"] = self.accept
        widget["clearable"] = self.clearable
        # A bound form shows the token it got (a re-rendered form keeps the finished upload);
        # an unbound one shows the stored file.
        widget["token"] = value if isinstance(value, str) else ""
        current = getattr(value, "name", None) if value and not isinstance(value, str) else None
        widget["current"] = current
        widget["current_url"] = getattr(value, "url", "") if current else ""
        return context

    def _grant_url(self) -> str:
        if self.grant_url:
            return self.grant_url
        try:
            return str(reverse(GRANT_URL_NAME))
        except NoReverseMatch as exc:
            raise ImproperlyConfigured(
                "Direct uploads need the grant view: add path('uploads/', "
                "include('storages.direct.urls')) to your URLconf, or give the widget a "
                "grant_url."
            ) from exc

    def value_from_datadict(self, data: Any, files: Any, name: str) -> Any:
        """Return the submitted token, False when "clear" was ticked, else None."""
        token = data.get(name) or None
        if token is None and data.get(f"{name}-clear"):
            return False
        return token

    def value_omitted_from_data(self, data: Any, files: Any, name: str) -> bool:
        """Return whether the form left this field out entirely."""
        return name not in data and f"{name}-clear" not in data


class DirectUploadFormField(forms.FileField):
    """A form field whose value is a direct upload's token, cleaned into the stored name."""

    widget = DirectUploadWidget

    def __init__(
        self,
        *,
        storage: Any,
        max_size: int = DEFAULT_MAX_SIZE,
        content_types: str | Sequence[str] | None = None,
        scope: str = "",
        max_age: float | None = DEFAULT_CONFIRM_MAX_AGE,
        field_ref: str = "",
        grant_url: str | None = None,
        **kwargs: Any,
    ) -> None:
        widget = kwargs.pop("widget", None)
        if not (isinstance(widget, DirectUploadWidget) or _is_widget_class(widget)):
            widget = None  # e.g. the admin's file widget: it would post the file itself
        super().__init__(widget=widget, **kwargs)
        self.storage = storage
        self.max_size = max_size
        self.content_types = normalize_content_types(content_types)
        self.scope = scope
        self.max_age = max_age
        assert isinstance(self.widget, DirectUploadWidget)
        self.widget.field_ref = field_ref or self.widget.field_ref
        self.widget.grant_url = grant_url or self.widget.grant_url
        self.widget.accept = ",".join(self.content_types or ())
        self.widget.clearable = not self.required

    def to_python(self, data: Any) -> Any:
        """Return the name the token's upload was stored under, after every check."""
        if data in self.empty_values:
            return None
        if not isinstance(data, str):
            raise ValidationError("Upload the file with the page's uploader.", code="invalid")
        confirm = getattr(self.storage, "confirm_direct_upload", None)
        if confirm is None:
            raise ImproperlyConfigured(unsupported_message(self.storage))
        try:
            return confirm(data, scope=self.scope, max_age=self.max_age)
        except DirectUploadError as exc:
            raise ValidationError(str(exc), code=exc.code) from exc

    def allows(self, content_type: str | None) -> bool:
        """Return whether files of ``content_type`` may be uploaded through this field."""
        return content_type_allowed(content_type, self.content_types)


def _is_widget_class(widget: Any) -> bool:
    return isinstance(widget, type) and issubclass(widget, DirectUploadWidget)


class DirectUploadField(models.FileField):
    """A ``FileField`` whose files the browser uploads straight to the storage's service.

    ``max_size`` (bytes), ``content_types`` (``"image/*"`` or a list) and ``expires`` (the
    grant's lifetime in seconds) bound what a browser may upload. The storage must support
    direct uploads (S3, Google Cloud Storage, Azure).
    """

    def __init__(
        self,
        *args: Any,
        max_size: int = DEFAULT_MAX_SIZE,
        content_types: str | Sequence[str] | None = None,
        expires: int | None = None,
        **kwargs: Any,
    ) -> None:
        self.max_size = max_size
        self.content_types = normalize_content_types(content_types)
        self.expires = expires
        super().__init__(*args, **kwargs)

    @property
    def direct_scope(self) -> str:
        """Return the field's label (``app.model.field``), the scope of its tokens."""
        return f"{self.model._meta.label_lower}.{self.name}"

    def deconstruct(self) -> Any:
        """Return the field's construction arguments (for migrations)."""
        name, path, args, kwargs = super().deconstruct()
        if self.max_size != DEFAULT_MAX_SIZE:
            kwargs["max_size"] = self.max_size
        if self.content_types is not None:
            kwargs["content_types"] = list(self.content_types)
        if self.expires is not None:
            kwargs["expires"] = self.expires
        return name, path, args, kwargs

    def formfield(self, **kwargs: Any) -> Any:  # type: ignore[override]
        """Return a :class:`DirectUploadFormField` for this field."""
        if not _is_widget_class(kwargs.get("widget")) and not isinstance(
            kwargs.get("widget"), DirectUploadWidget
        ):
            kwargs.pop("widget", None)  # the admin passes its own file widget
        options = {
            "form_class": DirectUploadFormField,
            "storage": self.storage,
            "max_size": self.max_size,
            "content_types": self.content_types,
            "scope": self.direct_scope,
            "field_ref": field_ref(self.direct_scope),
            **kwargs,
        }
        return super().formfield(**options)
