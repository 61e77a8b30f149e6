"""URLs of the example site."""

from django.urls import path
from gallery import views

urlpatterns = [
    path("", views.index, name="index"),
    path("delete/<int:pk>/", views.delete, name="delete"),
]
