"""URLs of the example site."""

from django.urls import include, path
from gallery import views

urlpatterns = [
    path("", views.index, name="index"),
    path("delete/<int:pk>/", views.delete, name="delete"),
    path("direct/", views.direct, name="direct"),
    # The grant view of direct uploads (a public demo: no login; wrap it in a real site).
    path("uploads/", include("storages.direct.urls")),
]
