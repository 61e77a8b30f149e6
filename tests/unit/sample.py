"""A small backend used by the unit tests of the core (settings, secrets, identity)."""

from __future__ import annotations

from typing import Any

from storages.base import BaseStorage
from storages.settings import Setting


class SampleStorage(BaseStorage):
    """Declares one setting of each kind the core supports."""

    bucket_name = Setting("STOWAGE_BUCKET", "default-bucket", aliases=("STOWAGE_OLD_BUCKET",))
    access_key = Setting(
        "STOWAGE_KEY", None, env=("STOWAGE_KEY_ENV", "STOWAGE_KEY_ENV2"), secret=True
    )
    region = Setting("STOWAGE_REGION", "eu-1")
    params = Setting("STOWAGE_PARAMS", {})
    legacy_flag = Setting("STOWAGE_LEGACY_FLAG", False, deprecated="use STOWAGE_PARAMS instead.")
    location = Setting("STOWAGE_LOCATION", "")
    file_overwrite = Setting("STOWAGE_OVERWRITE", True, keywords=("overwrite_files",))

    connects = 0

    def _connect(self) -> Any:
        type(self).connects += 1
        return {"key": self.access_key, "region": self.region}
