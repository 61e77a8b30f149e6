"""Settings of the example site.

Without cloud settings in the environment, ``manage.py demo`` starts an embedded S3-compatible
server (moto, in this process) and points the storages at it, so the site runs with no account
and no network. With ``AWS_STORAGE_BUCKET_NAME`` (and the usual ``AWS_*`` credentials) set, it
uses that bucket on the real service instead.
"""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "demo-only-not-secret")
# Off by default so the manifest storage serves hashed static names, as in production.
DEBUG = os.environ.get("DEMO_DEBUG", "") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    # Before staticfiles: its collectstatic (one listing, unchanged files skipped) replaces
    # Django's.
    "storages",
    "django.contrib.staticfiles",
    "gallery",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
]
ROOT_URLCONF = "demo.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DEMO_DATABASE", BASE_DIR / "demo.sqlite3"),
    }
}
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
STATIC_URL = "static/"

# The bucket and endpoint: from the environment, or filled in by the embedded server at start.
AWS_STORAGE_BUCKET_NAME = os.environ.get("AWS_STORAGE_BUCKET_NAME", "stowage-demo")
EMBEDDED_S3 = "AWS_STORAGE_BUCKET_NAME" not in os.environ
if EMBEDDED_S3:
    AWS_S3_ENDPOINT_URL = os.environ.get("DEMO_S3_ENDPOINT", "")  # set by the demo command
    AWS_S3_ACCESS_KEY_ID = "demo"
    AWS_S3_SECRET_ACCESS_KEY = "demo-secret"
    AWS_S3_REGION_NAME = "us-east-1"
    AWS_S3_ADDRESSING_STYLE = "path"

STORAGES = {
    # Uploads: private objects, shown through signed URLs.
    "default": {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {"location": "media", "file_overwrite": False},
    },
    # Static files: hashed names from a manifest, public so browsers can load them directly.
    "staticfiles": {
        "BACKEND": "storages.backends.s3.S3ManifestStaticStorage",
        "OPTIONS": {"location": "static", "default_acl": "public-read"},
    },
}
# The static files are public on purpose (see above); the check warns about public ACLs.
SILENCED_SYSTEM_CHECKS = ["storages.W003"]
