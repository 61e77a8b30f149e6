"""Sphinx configuration: the docs are Markdown pages read by MyST."""

project = "django-stowage"
author = "django-stowage contributors"
copyright = "2026, django-stowage contributors"
extensions = ["myst_parser"]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build"]
myst_heading_anchors = 3
html_theme = "alabaster"
html_title = "django-stowage"
