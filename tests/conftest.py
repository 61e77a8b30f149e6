"""Test-wide Django configuration (no pytest plugin needed)."""

from __future__ import annotations

import os
import tempfile

import django
from django.conf import settings

os.environ.setdefault("TZ", "UTC")

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="tests-only",
        USE_TZ=True,
        TIME_ZONE="UTC",
        INSTALLED_APPS=["django.contrib.staticfiles", "storages"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        MEDIA_ROOT=tempfile.mkdtemp(prefix="stowage-media-"),
        MEDIA_URL="/media/",
        STATIC_URL="/static/",
        FILE_UPLOAD_TEMP_DIR=None,
    )
    django.setup()


from tests.servers import SERVER_MODULES

# Each server module's fixtures (the server, and ``backend_<module>`` for the conformance suite),
# and the secrets audit of the whole run (tests/secrets_audit.py).
pytest_plugins = [f"tests.servers.{name}" for name in SERVER_MODULES] + ["tests.secrets_audit"]
