"""Management commands: ``collectstatic`` (accelerated) and ``storages`` (check, copy, sync)."""
