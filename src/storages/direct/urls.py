"""URLs of direct uploads: ``path("uploads/", include("storages.direct.urls"))``."""

from __future__ import annotations

from django.urls import path

from storages.direct.fields import GRANT_URL_NAME
from storages.direct.views import grant_view

urlpatterns = [path("grant/", grant_view, name=GRANT_URL_NAME)]
