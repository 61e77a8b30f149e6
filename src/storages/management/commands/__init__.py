"""The commands ``manage.py`` finds when ``"storages"`` is in ``INSTALLED_APPS``."""
