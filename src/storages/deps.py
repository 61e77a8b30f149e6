"""Import a backend's SDK on first use, or explain which extra installs it."""

from __future__ import annotations

import importlib
from types import ModuleType

from django.core.exceptions import ImproperlyConfigured

__all__ = ["require"]


def require(module: str, extra: str) -> ModuleType:
    """Return the imported ``module``, or raise ``ImproperlyConfigured`` naming the extra."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"This storage backend needs the Python package that provides '{module}', which is "
            f"not installed. Install it with: pip install 'django-stowage[{extra}]'"
        ) from exc
