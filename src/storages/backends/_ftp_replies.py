"""What FTP servers answer, in our terms: the error table, and the parsing of ``MLST``/``MLSD``
facts, ``LIST`` lines and timestamps."""

from __future__ import annotations

import contextlib
import ftplib
import re
from collections.abc import Iterator
from datetime import datetime, timezone

from storages.errors import AccessDenied, AlreadyExists, NotFound, StorageError, raise_translated
from storages.objects import ObjectInfo

__all__ = [
    "ERROR_RULES",
    "FTPAlreadyExists",
    "FTPNotFound",
    "FTPPermissionDenied",
    "FTPStorageException",
    "info_from_facts",
    "is_answer",
    "parse_list_line",
    "parse_mlsx_line",
    "refusals",
    "reply_code",
    "timestamp",
]

#: Words of a 550 reply that mean "not allowed" rather than "not there".
DENIED_WORDS = ("permission", "denied", "privilege", "not allowed", "forbidden", "access")


class FTPStorageException(StorageError):
    """An FTP server refused a request, or the connection to it failed."""


class FTPNotFound(FTPStorageException, NotFound):
    """The FTP server has no such file or directory."""


class FTPPermissionDenied(FTPStorageException, AccessDenied):
    """The FTP server refused the login or the operation."""


class FTPAlreadyExists(FTPStorageException, AlreadyExists):
    """A file is already stored under the name (overwriting is off)."""


def reply_code(exc: BaseException) -> str:
    """Return the three-digit FTP reply code an ftplib error carries ('' if none)."""
    text = str(exc)
    return text[:3] if text[:3].isdigit() else ""


def _is_denied(exc: BaseException) -> bool:
    code = reply_code(exc)
    if code in {"530", "532", "553"}:
        return True
    return code == "550" and any(word in str(exc).lower() for word in DENIED_WORDS)


def _is_missing(exc: BaseException) -> bool:
    return isinstance(exc, ftplib.error_perm) and reply_code(exc) == "550"


#: ftplib errors to our tree, most specific first; anything else is an FTPStorageException.
ERROR_RULES = (
    (_is_denied, FTPPermissionDenied),
    (_is_missing, FTPNotFound),
    (lambda exc: True, FTPStorageException),
)


def is_answer(exc: BaseException) -> bool:
    """Return whether ``exc`` is the server's reply to a request (its connection still works)."""
    original = exc.__cause__ if isinstance(exc, StorageError) and exc.__cause__ else exc
    if isinstance(original, ftplib.error_temp):
        return reply_code(original) != "421"  # 421: the server is closing the connection
    return isinstance(original, (ftplib.error_perm, StorageError))


@contextlib.contextmanager
def refusals(path: str, missing: frozenset[str] = frozenset()) -> Iterator[None]:
    """Raise the server's refusals (``error_perm``) in the block as our errors; the codes in
    ``missing`` also mean "no such file or directory"."""
    try:
        yield
    except ftplib.error_perm as exc:
        if reply_code(exc) in missing:
            raise FTPNotFound(f"{path}: {exc}") from exc
        raise_translated(exc, ERROR_RULES, name=path)


def timestamp(value: str) -> datetime | None:
    """Return the aware UTC time of an MDTM/MLST ``YYYYMMDDHHMMSS[.fff]`` value."""
    whole, _, fraction = value.strip().partition(".")
    if len(whole) != len("YYYYMMDDHHMMSS") or not whole.isdigit():
        return None
    # By hand rather than strptime: this runs for every stat, and strptime costs more than
    # the rest of the reply's parsing.
    try:
        moment = datetime(
            int(whole[:4]),
            int(whole[4:6]),
            int(whole[6:8]),
            int(whole[8:10]),
            int(whole[10:12]),
            int(whole[12:14]),
            tzinfo=timezone.utc,
        )
    except ValueError:
        return None
    if fraction.isdigit():
        moment = moment.replace(microsecond=int(fraction[:6].ljust(6, "0")))
    return moment


def info_from_facts(facts: dict[str, str]) -> ObjectInfo:
    """Return what the facts of one MLST/MLSD entry tell about a file or directory."""
    is_dir = facts.get("type", "").lower() in {"dir", "cdir", "pdir"}
    size = int(facts["size"]) if facts.get("size", "").isdigit() else 0
    modified = timestamp(facts["modify"]) if "modify" in facts else None
    # "unique" (the inode, on Unix servers) tells a replaced file from one rewritten in place
    # within the same second.
    version = (size, modified, facts.get("unique"))
    return ObjectInfo(size, modified, version=version, is_dir=is_dir)


def parse_mlsx_line(line: str) -> tuple[str, dict[str, str]]:
    """Return ``(name, facts)`` of one MLSD/MLST entry (facts, a space, then the name)."""
    text = line[1:] if line.startswith(" ") else line
    facts_text, _, name = text.partition(" ")
    facts = {}
    for fact in facts_text.split(";"):
        key, sep, value = fact.partition("=")
        if sep:
            facts[key.lower()] = value
    return name, facts


_UNIX_LINE = re.compile(
    r"^(?P<type>[-dlbcpsDn])\S{9}\S*\s+\d+\s+\S+(?:\s+\S+)?\s+\d+\s+[A-Za-z]{3}\s+\d{1,2}"
    r"\s+(?:\d{1,2}:\d{2}|\d{4})\s(?P<name>.+)$"
)
_DOS_LINE = re.compile(
    r"^\d{1,2}-\d{1,2}-\d{2,4}\s+\d{1,2}:\d{2}\s*(?:[AaPp][Mm])?\s+(?:(?P<dir><DIR>)|\d+)\s+"
    r"(?P<name>.+)$"
)


def parse_list_line(line: str) -> tuple[str, bool] | None:
    """Return ``(name, is_dir)`` of one ``LIST`` line (Unix ``ls -l`` or DOS style), or None.

    The name is everything after the single space that follows the time or year, so names with
    spaces (even leading ones) come back intact.
    """
    match = _UNIX_LINE.match(line)
    if match:
        name = match["name"]
        if match["type"] == "l":
            name = name.partition(" -> ")[0]
        return name, match["type"] == "d"
    match = _DOS_LINE.match(line)
    if match:
        return match["name"], match["dir"] is not None
    return None
