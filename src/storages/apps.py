"""Django app config: adding ``"storages"`` to ``INSTALLED_APPS`` enables the system checks."""

from __future__ import annotations

from django.apps import AppConfig


class StoragesConfig(AppConfig):
    """Register this package's system checks."""

    name = "storages"
    verbose_name = "Storages"

    def ready(self) -> None:
        """Register the system checks."""
        from storages import checks

        checks.register_all()
