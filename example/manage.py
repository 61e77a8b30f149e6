#!/usr/bin/env python
"""The example site's manage.py (run ``python manage.py demo`` or ``make demo``)."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
