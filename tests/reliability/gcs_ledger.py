"""The resumable upload sessions a GCS storage opens, noted at its client seam.

No API lists open resumable sessions, so the reliability tests keep a ledger of them from the
requests the storage sends: a session is opened by a ``POST ...uploadType=resumable`` (its URL
comes back in ``Location``) and ends with a final chunk answered 200/201, or a cancel
(``DELETE``). The session wrapper also gives every request the tests' short timeout: the GCS
backend has no timeout setting.
"""

from __future__ import annotations

import threading
from typing import Any

from tests.servers.gcloud import RecordingSession

__all__ = ["LedgerSession", "UploadLedger"]


class UploadLedger:
    """The resumable upload sessions a storage opened, and whether each was ended."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.sessions: dict[str, str] = {}

    def note(self, method: str, url: str, status: int | None, location: str | None) -> None:
        """Record what one request did to the sessions."""
        with self._lock:
            if method == "POST" and "uploadType=resumable" in url and location:
                self.sessions[location] = "open"
            elif url in self.sessions and method == "DELETE":
                self.sessions[url] = "cancelled"
            elif url in self.sessions and method == "PUT" and status in (200, 201):
                self.sessions[url] = "finished"

    def unfinished(self) -> list[str]:
        """Return the sessions neither finished nor cancelled."""
        with self._lock:
            return [f"upload session:{url}" for url, s in self.sessions.items() if s == "open"]


class LedgerSession(RecordingSession):
    """The client seam of the GCS storages under test: a short timeout, and the ledger."""

    def __init__(self, inner: Any, ledger: UploadLedger, timeout: tuple[float, float]) -> None:
        super().__init__(inner)
        self.ledger = ledger
        self.timeout = timeout

    def request(
        self, method: str, url: str, data: Any = None, headers: Any = None, **kwargs: Any
    ) -> Any:
        """Send one request with the short timeout and note it in the ledger."""
        kwargs["timeout"] = self.timeout
        method = method.upper()
        try:
            response = super().request(method, url, data=data, headers=headers, **kwargs)
        except Exception:
            self.ledger.note(method, url, None, None)
            raise
        self.ledger.note(method, url, response.status_code, response.headers.get("Location"))
        return response
