"""The in-memory Dropbox account behind the fake API of :mod:`tests.servers.dropbox`.

Written by us from Dropbox's documentation of its HTTP API v2. Each route method takes the
decoded argument (and the request body) and returns the result JSON, or raises
:class:`RouteError` carrying the error union the service answers with HTTP 409. What the
service does and this model copies:

* paths are case-insensitive: every lookup goes through the lower-cased path; a folder keeps
  the case it was created with, a file the case of its last upload;
* uploads create missing parent folders; ``add`` mode refuses a taken name (unless the content
  is identical and ``strict_conflict`` is off), ``overwrite`` replaces, ``update`` replaces
  only the given revision; ``autorename`` picks ``name (1).ext``;
* every request body with a ``content_hash`` argument is checked against it (4 MiB blocks,
  SHA-256 of the blocks' SHA-256 digests) and refused on a mismatch;
* upload sessions check offsets (``incorrect_offset`` with the correct one) and expire;
* ``list_folder`` pages with cursors; deleting a folder deletes what it holds;
* old revisions stay downloadable (``rev:<rev>``) within a memory budget.
"""

from __future__ import annotations

import hashlib
import posixpath
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

KiB = 1024
MiB = 1024 * KiB
#: The block size of Dropbox's content hash.
BLOCK_SIZE = 4 * MiB
#: The largest body one upload request may carry.
MAX_REQUEST_BODY = 150 * MiB
#: Entries per list_folder page when the request gives no limit, and the largest limit.
DEFAULT_LIST_LIMIT = 500
MAX_LIST_LIMIT = 2000
#: Seconds an idle upload session, and a temporary link, stay valid (the service: days / 4 h).
SESSION_LIFETIME = 3600
LINK_LIFETIME = 4 * 3600
#: Seconds a token handed out by the refresh flow stays valid.
TOKEN_LIFETIME = 4 * 3600
#: Bytes of superseded and deleted revisions kept for ``rev:`` downloads (oldest dropped first).
OLD_REVISIONS_BUDGET = 256 * MiB
#: Cursors kept for list_folder/continue (the oldest are forgotten: "reset").
MAX_CURSORS = 10_000


def content_hash(data: bytes) -> str:
    """Return Dropbox's content hash of ``data`` (hex)."""
    view = memoryview(data)
    digests = b"".join(
        hashlib.sha256(view[i : i + BLOCK_SIZE]).digest() for i in range(0, len(view), BLOCK_SIZE)
    )
    return hashlib.sha256(digests).hexdigest()


def error_summary(error: dict[str, Any]) -> str:
    """Return the ``error_summary`` of an error union: its tags joined by ``/``."""
    tags: list[str] = []
    value: Any = error
    while isinstance(value, dict) and ".tag" in value:
        tag = value[".tag"]
        tags.append(tag)
        value = value.get(tag, value.get("reason"))
    return "/".join(tags) + "/"


class RouteError(Exception):
    """A route error: HTTP 409 with ``{"error_summary": ..., "error": <union>}``."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error_summary(error))
        self.error = error


class BadInput(Exception):
    """A request the service refuses with HTTP 400 and a plain-text message."""


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _lookup_error(tag: str) -> dict[str, Any]:
    return {".tag": tag}


def _conflict(kind: str) -> dict[str, Any]:
    return {".tag": "conflict", "conflict": {".tag": kind}}


@dataclass
class Revision:
    """One revision of a file."""

    path: str
    data: bytes
    rev: str
    id: str
    modified: str
    hash: str
    #: How many request bodies the content came in (1 for files/upload; a session's count).
    parts: int = 1

    def metadata(self, tagged: bool = False) -> dict[str, Any]:
        """Return the FileMetadata JSON (with ``.tag`` where the route returns a union)."""
        meta = {
            "name": posixpath.basename(self.path),
            "id": self.id,
            "client_modified": self.modified,
            "server_modified": self.modified,
            "rev": self.rev,
            "size": len(self.data),
            "path_lower": self.path.lower(),
            "path_display": self.path,
            "is_downloadable": True,
            "content_hash": self.hash,
        }
        return {".tag": "file", **meta} if tagged else meta


@dataclass
class Folder:
    """A folder (created by an upload into it)."""

    path: str
    id: str

    def metadata(self) -> dict[str, Any]:
        """Return the tagged FolderMetadata JSON."""
        return {
            ".tag": "folder",
            "name": posixpath.basename(self.path),
            "id": self.id,
            "path_lower": self.path.lower(),
            "path_display": self.path,
        }


@dataclass
class Session:
    """An upload session: the bytes received so far."""

    data: bytearray = field(default_factory=bytearray)
    closed: bool = False
    parts: int = 1
    touched: float = field(default_factory=time.monotonic)


class Tree:
    """The files and folders of an account, with their revisions; thread-safe."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.files: dict[str, Revision] = {}
        self.folders: dict[str, Folder] = {"": Folder("", "id:root")}
        self.children: dict[str, set[str]] = {"": set()}
        self.revisions: dict[str, Revision] = {}
        self._retired: deque[Revision] = deque()
        self._retired_bytes = 0
        self._counter = 0
        #: Writes still to be corrupted on purpose (one byte flipped after the hash check).
        self.corrupt_writes = 0

    def _rev(self) -> str:
        self._counter += 1
        return f"{self._counter:09x}{secrets.token_hex(3)}"

    @staticmethod
    def _parts(path: Any, what: str = "path") -> list[str]:
        """Return the elements of an absolute Dropbox path ("" is the root)."""
        if not isinstance(path, str):
            raise BadInput(f"Error in call to API function: {what}: expected a string")
        if path == "":
            return []
        if not path.startswith("/") or path.endswith("/") or "//" in path:
            raise RouteError({".tag": "path", "path": {".tag": "malformed_path"}})
        parts = path[1:].split("/")
        if any(part in (".", "..") for part in parts):
            raise RouteError({".tag": "path", "path": {".tag": "malformed_path"}})
        return parts

    def _find(self, lower: str) -> Revision | Folder | None:
        return self.files.get(lower) or self.folders.get(lower)

    def _metadata(self, lower: str) -> dict[str, Any]:
        found = self._find(lower)
        assert found is not None
        return found.metadata(tagged=True) if isinstance(found, Revision) else found.metadata()

    def _lookup(self, path: Any, kind: str = "path") -> Revision | Folder:
        parts = self._parts(path)
        if not parts:
            return self.folders[""]
        found = self._find(path.lower())
        if found is None:
            raise RouteError({".tag": kind, kind: _lookup_error("not_found")})
        return found

    def _lookup_file(self, path: Any, kind: str = "path") -> Revision:
        if isinstance(path, str) and path.startswith("rev:"):
            revision = self.revisions.get(path[4:])
            if revision is None:
                raise RouteError({".tag": kind, kind: _lookup_error("not_found")})
            return revision
        found = self._lookup(path, kind)
        if isinstance(found, Folder):
            raise RouteError({".tag": kind, kind: _lookup_error("not_file")})
        return found

    def _retire(self, revision: Revision) -> None:
        self._retired.append(revision)
        self._retired_bytes += len(revision.data)
        while self._retired_bytes > OLD_REVISIONS_BUDGET and self._retired:
            old = self._retired.popleft()
            self._retired_bytes -= len(old.data)
            self.revisions.pop(old.rev, None)

    def _link(self, parent: str, lower: str) -> None:
        self.children.setdefault(parent, set()).add(lower)

    def _make_parents(self, parts: list[str]) -> str:
        """Create the missing folders above ``parts``; return the parent's display path."""
        display = ""
        for part in parts[:-1]:
            parent = display.lower()
            display = f"{display}/{part}"
            folder = self.folders.get(display.lower())
            if folder is None:
                if display.lower() in self.files:
                    raise RouteError(_conflict("file_ancestor"))
                folder = Folder(display, f"id:{secrets.token_urlsafe(12)}")
                self.folders[display.lower()] = folder
                self.children[display.lower()] = set()
                self._link(parent, display.lower())
            display = folder.path
        return display

    def _autorename(self, parent: str, name: str) -> str:
        stem, ext = posixpath.splitext(name)
        for n in range(1, 10_000):
            candidate = f"{parent}/{stem} ({n}){ext}"
            if self._find(candidate.lower()) is None:
                return candidate
        raise RouteError(_conflict("file"))

    def commit(
        self, path: Any, mode: Any, autorename: bool, strict: bool, data: bytes, parts: int = 1
    ) -> Revision:
        """Store ``data`` at ``path`` per the write ``mode``; raise the WriteError union."""
        elements = self._parts(path)
        if not elements:
            raise RouteError({".tag": "malformed_path"})
        tag = mode.get(".tag") if isinstance(mode, dict) else mode
        if tag not in ("add", "overwrite", "update"):
            raise BadInput(f"Error in call to API function: mode: unknown tag {tag!r}")
        with self.lock:
            if self.corrupt_writes > 0:
                self.corrupt_writes -= 1
                data = bytes([data[0] ^ 0xFF]) + data[1:] if data else b"corrupted"
            parent = self._make_parents(elements)
            target = f"{parent}/{elements[-1]}"
            existing = self._find(target.lower())
            if isinstance(existing, Folder):
                if not autorename:
                    raise RouteError(_conflict("folder"))
                target, existing = self._autorename(parent, elements[-1]), None
            digest = content_hash(data)
            if existing is not None:
                if tag == "add" and not strict and existing.hash == digest:
                    return existing  # the same content is already there: nothing to do
                keep = tag == "overwrite" or (tag == "update" and existing.rev == mode["update"])
                if not keep:
                    if not autorename:
                        raise RouteError(_conflict("file"))
                    target, existing = self._autorename(parent, elements[-1]), None
            elif tag == "update" and strict:
                raise RouteError(_conflict("file"))  # the revision to replace is gone
            revision = Revision(
                path=existing.path if existing is not None else target,
                data=data,
                rev=self._rev(),
                id=existing.id if existing is not None else f"id:{secrets.token_urlsafe(12)}",
                modified=_now(),
                hash=digest,
                parts=parts,
            )
            if existing is not None:
                self._retire(existing)
            lower = revision.path.lower()
            self.files[lower] = revision
            self.revisions[revision.rev] = revision
            self._link(parent.lower(), lower)
            return revision

    def _commit_info(self, info: dict[str, Any], data: bytes, parts: int = 1) -> Revision:
        """Commit ``data`` per a CommitInfo-shaped argument (path, mode, autorename...)."""
        return self.commit(
            info.get("path"),
            info.get("mode", {".tag": "add"}),
            bool(info.get("autorename", False)),
            bool(info.get("strict_conflict", False)),
            data,
            parts,
        )

    def _remove(self, lower: str) -> None:
        for child in list(self.children.pop(lower, ())):
            self._remove(child)
        revision = self.files.pop(lower, None)
        if revision is not None:
            self._retire(revision)
        self.folders.pop(lower, None)


class Account(Tree):
    """One Dropbox account: its tree, upload sessions, list cursors and links (the routes)."""

    def __init__(self) -> None:
        super().__init__()
        self.sessions: dict[str, Session] = {}
        self.cursors: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
        self.links: dict[str, tuple[Revision, float]] = {}

    @staticmethod
    def _check_body(arg: dict[str, Any], body: bytes) -> None:
        if len(body) > MAX_REQUEST_BODY:
            raise RouteError({".tag": "payload_too_large"})
        expected = arg.get("content_hash")
        if expected is not None and expected != content_hash(body):
            raise RouteError({".tag": "content_hash_mismatch"})

    def upload(self, arg: dict[str, Any], body: bytes) -> dict[str, Any]:
        """files/upload."""
        self._check_body(arg, body)
        try:
            revision = self._commit_info(arg, body)
        except RouteError as exc:
            raise RouteError(
                {".tag": "path", "reason": exc.error, "upload_session_id": ""}
            ) from None
        return revision.metadata()

    def get_metadata(self, arg: dict[str, Any]) -> dict[str, Any]:
        """files/get_metadata."""
        if arg.get("path") == "":
            raise BadInput(
                'Error in call to API function "files/get_metadata": request body: '
                "path: The root folder is unsupported."
            )
        with self.lock:
            found = self._lookup(arg.get("path"))
            return found.metadata(tagged=True) if isinstance(found, Revision) else found.metadata()

    def download(self, arg: dict[str, Any]) -> Revision:
        """files/download: the revision to send (the server cuts the requested range)."""
        with self.lock:
            return self._lookup_file(arg.get("path"))

    def _session(self, cursor: Any, wrap: bool) -> Session:
        def fail(error: dict[str, Any]) -> RouteError:
            return RouteError({".tag": "lookup_failed", "lookup_failed": error} if wrap else error)

        if not isinstance(cursor, dict):
            raise BadInput("Error in call to API function: cursor: missing")
        session = self.sessions.get(cursor.get("session_id", ""))
        if session is None or time.monotonic() - session.touched > SESSION_LIFETIME:
            raise fail({".tag": "not_found"})
        if session.closed:
            raise fail({".tag": "closed"})
        if cursor.get("offset") != len(session.data):
            raise fail({".tag": "incorrect_offset", "correct_offset": len(session.data)})
        session.touched = time.monotonic()
        return session

    def session_start(self, arg: dict[str, Any], body: bytes) -> dict[str, Any]:
        """files/upload_session/start."""
        self._check_body(arg, body)
        session_id = f"pid_upload_session:{secrets.token_urlsafe(24)}"
        with self.lock:
            now = time.monotonic()
            for stale in [
                k for k, s in self.sessions.items() if now - s.touched > SESSION_LIFETIME
            ]:
                del self.sessions[stale]
            self.sessions[session_id] = Session(bytearray(body), bool(arg.get("close", False)))
        return {"session_id": session_id}

    def session_append(self, arg: dict[str, Any], body: bytes) -> None:
        """files/upload_session/append_v2."""
        self._check_body(arg, body)
        with self.lock:
            session = self._session(arg.get("cursor"), wrap=False)
            session.data += body
            session.parts += 1
            session.closed = bool(arg.get("close", False))

    def session_finish(self, arg: dict[str, Any], body: bytes) -> dict[str, Any]:
        """files/upload_session/finish."""
        self._check_body(arg, body)
        commit = arg.get("commit") or {}
        with self.lock:
            session = self._session(arg.get("cursor"), wrap=True)
            data = bytes(session.data) + body
            try:
                revision = self._commit_info(commit, data, session.parts + (1 if body else 0))
            except RouteError as exc:
                raise RouteError({".tag": "path", "path": exc.error}) from None
            del self.sessions[arg["cursor"]["session_id"]]
            return revision.metadata()

    def _page(self, cursor: str) -> dict[str, Any]:
        pending = self.cursors[cursor]
        limit = pending[0]["limit"] if pending else 0
        entries = [e["entry"] for e in pending[:limit]]
        del pending[:limit]
        return {"entries": entries, "cursor": cursor, "has_more": bool(pending)}

    def list_folder(self, arg: dict[str, Any]) -> dict[str, Any]:
        """files/list_folder (``recursive``: every descendant, the folder itself too, as the
        service does for a folder other than the root)."""
        limit = arg.get("limit") or DEFAULT_LIST_LIMIT
        if not isinstance(limit, int) or not 1 <= limit <= MAX_LIST_LIMIT:
            raise BadInput("Error in call to API function: limit: out of range")
        with self.lock:
            folder = self._lookup(arg.get("path"))
            if isinstance(folder, Revision):
                raise RouteError({".tag": "path", "path": _lookup_error("not_folder")})
            top = folder.path.lower()
            if arg.get("recursive"):
                lowers = sorted(self._descendants(top))
                if self._parts(arg.get("path")):
                    lowers.insert(0, top)
            else:
                lowers = sorted(self.children.get(top, ()))
            entries = [{"entry": self._metadata(lower), "limit": limit} for lower in lowers]
            cursor = secrets.token_urlsafe(24)
            self.cursors[cursor] = entries
            while len(self.cursors) > MAX_CURSORS:
                self.cursors.popitem(last=False)
            return self._page(cursor)

    def _descendants(self, lower: str) -> Iterator[str]:
        for child in self.children.get(lower, ()):
            yield child
            yield from self._descendants(child)

    def list_folder_continue(self, arg: dict[str, Any]) -> dict[str, Any]:
        """files/list_folder/continue."""
        with self.lock:
            if arg.get("cursor") not in self.cursors:
                raise RouteError({".tag": "reset"})
            return self._page(arg["cursor"])

    def delete(self, arg: dict[str, Any]) -> dict[str, Any]:
        """files/delete_v2 (a folder goes with everything in it)."""
        path = arg.get("path")
        with self.lock:
            if self._parts(path) == []:
                raise RouteError({".tag": "path_lookup", "path_lookup": {".tag": "malformed_path"}})
            found = self._lookup(path, "path_lookup")
            if isinstance(found, Revision) and arg.get("parent_rev") not in (None, found.rev):
                raise RouteError({".tag": "path_write", "path_write": _conflict("file")})
            lower = found.path.lower()
            meta = self._metadata(lower)
            self._remove(lower)
            self.children.get(lower.rsplit("/", 1)[0], set()).discard(lower)
            return {"metadata": meta}

    def current(self, path: str) -> Revision | None:
        """Return the file stored at ``path`` now (test inspection)."""
        with self.lock:
            return self.files.get(path.lower())

    def remove_tree(self, path: str) -> None:
        """Delete ``path`` and everything under it, if it exists (test clean-up)."""
        with self.lock:
            found = self._find(path.lower())
            if found is not None:
                self.delete({"path": found.path})

    def temporary_link(self, arg: dict[str, Any], base_url: str) -> dict[str, Any]:
        """files/get_temporary_link: a link this server serves for four hours."""
        with self.lock:
            revision = self._lookup_file(arg.get("path"))
            token = secrets.token_urlsafe(18)
            self.links[token] = (revision, time.monotonic() + LINK_LIFETIME)
        link = f"{base_url}/temp/{token}{quote(revision.path)}"
        return {"metadata": revision.metadata(), "link": link}

    def link_content(self, token: str) -> Revision | None:
        """Return the revision a temporary link serves (None: unknown or expired)."""
        with self.lock:
            revision, expires = self.links.get(token, (None, 0.0))
            return revision if revision is not None and time.monotonic() < expires else None
