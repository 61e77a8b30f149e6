"""The suite-wide secrets audit (tests/secrets_audit.py) finds what it is there to find."""

from __future__ import annotations

import logging

from tests.secrets_audit import AUDIT, Audit
from tests.unit.sample import SampleStorage

SECRET = "audit-probe-secret-value"


def test_a_secret_in_any_kind_of_text_is_found_masked():
    audit = Audit()
    audit.add_storage(SampleStorage(access_key=SECRET))
    audit.add_text("log", f"connecting with {SECRET}")
    audit.add_text("warning", "password=audit-probe-secret")  # only a part of it
    audit.add_exception(RuntimeError("key audit%2Dprobe"))
    hits = audit.hits()
    assert [(kind, text) for _, kind, text in hits] == [("log", "connecting with <secret>")]
    assert audit.figures()["backends"]["tests.unit.sample"] == {
        "storages": 1,
        "secrets": 1,
        "hits": 1,
    }


def test_percent_encoded_secrets_and_chained_causes_are_found():
    audit = Audit()
    audit.add_storage(SampleStorage(access_key="p@ss/word-123"))
    try:
        try:
            raise ValueError("ftp://user:p%40ss%2Fword-123@host/")
        except ValueError as exc:
            raise RuntimeError("failed") from exc
    except RuntimeError as exc:
        audit.add_exception(exc)
    assert [kind for _, kind, _ in audit.hits()] == ["exception"]


def test_a_suppressed_context_is_not_what_a_traceback_shows():
    audit = Audit()
    audit.add_storage(SampleStorage(access_key=SECRET))
    try:
        try:
            raise ValueError(SECRET)
        except ValueError:
            raise RuntimeError("clean") from None
    except RuntimeError as exc:
        audit.add_exception(exc)
    assert audit.hits() == []


def test_the_session_audit_collects_storage_log_records():
    before = len(AUDIT.texts["log"])
    logging.getLogger("storages.audit-probe").debug("a debug record of ours")
    assert AUDIT.texts["log"][before:] == ["storages.audit-probe DEBUG a debug record of ours"]
