"""``manage.py storages check|copy|sync``: try the configured storages, copy files between them.

* ``storages check [ALIAS ...]``: for each ``STORAGES`` alias (all by default), create the
  storage, list it, write, read, fetch the URL of and delete a probe file, and show the
  effective settings with their sources (secrets masked); see :mod:`storages._doctor`.
* ``storages copy SRC DST [PREFIX]``: copy the files below ``PREFIX`` from alias ``SRC`` to
  alias ``DST``, skipping those stored already; ``storages sync`` does the same and, with
  ``--delete``, removes what the source does not have once every copy succeeded; see
  :mod:`storages._transfer`.

Any failure ends the command with a non-zero status and the list of what failed.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.files.storage import storages
from django.core.management.base import BaseCommand, CommandError, CommandParser

from storages._doctor import Report, diagnose
from storages._progress import Progress, format_bytes
from storages._sync import DEFAULT_JOBS, SyncFailed
from storages._transfer import transfer
from storages.base import BaseStorage
from storages.management.commands.collectstatic import failure_message

__all__ = ["Command"]

_MARKS = {"ok": "ok  ", "FAIL": "FAIL", "warn": "warn", "skip": "skip"}


class Command(BaseCommand):
    """Check, copy or sync the storages configured in ``STORAGES``."""

    help = "Check the configured storages, or copy/sync files between two of them."

    def add_arguments(self, parser: CommandParser) -> None:
        """Declare the ``check``, ``copy`` and ``sync`` subcommands."""
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        check = actions.add_parser("check", help="Try each storage (all by default).")
        check.add_argument("aliases", nargs="*", metavar="ALIAS", help="STORAGES aliases.")
        check.add_argument(
            "--no-write",
            action="store_false",
            dest="write",
            help="Only list the storage: no probe file is written.",
        )
        for name, text in (
            ("copy", "Copy files from SRC to DST, skipping those stored already."),
            ("sync", "Copy like copy; with --delete also remove what SRC does not have."),
        ):
            sub = actions.add_parser(name, help=text)
            sub.add_argument("source", metavar="SRC", help="STORAGES alias to read.")
            sub.add_argument("destination", metavar="DST", help="STORAGES alias to write.")
            sub.add_argument("prefix", nargs="?", default="", metavar="PREFIX")
            sub.add_argument("-j", "--jobs", type=int, default=DEFAULT_JOBS, metavar="N")
            sub.add_argument("-n", "--dry-run", action="store_true", help="Change nothing.")
            sub.add_argument(
                "--size-only", action="store_true", help="Same size counts as identical."
            )
            if name == "sync":
                sub.add_argument(
                    "--delete",
                    action="store_true",
                    help="Delete DST files that SRC does not have (after every copy succeeded).",
                )

    def handle(self, *args: Any, **options: Any) -> None:
        """Run the chosen subcommand."""
        self.verbosity = int(options.get("verbosity", 1))
        if options["action"] == "check":
            self._check(options["aliases"], options["write"])
        else:
            self._transfer(options)

    def _alias(self, alias: str) -> str:
        configured = getattr(settings, "STORAGES", {}) or {}
        if alias not in configured:
            raise CommandError(
                f"No storage {alias!r} in STORAGES; configured: {', '.join(sorted(configured))}."
            )
        return alias

    def _check(self, aliases: list[str], write: bool) -> None:
        chosen = [self._alias(a) for a in aliases] or sorted(getattr(settings, "STORAGES", {}))
        failed = []
        for alias in chosen:
            report = diagnose(alias, write=write)
            self._print_report(report)
            if report.failed:
                failed.append(alias)
        if failed:
            raise CommandError(f"storages check found problems with: {', '.join(failed)}.")

    def _print_report(self, report: Report) -> None:
        self.stdout.write(f'Storage "{report.alias}": {report.backend}')
        for finding in report.findings:
            line = f"  {_MARKS[finding.status]}  {finding.step}: {finding.detail}"
            style = self.style.ERROR if finding.status == "FAIL" else self.style.SUCCESS
            self.stdout.write(style(line) if finding.status in ("FAIL", "ok") else line)
            if finding.fix:
                self.stdout.write(f"        fix: {finding.fix}")
        if report.settings and self.verbosity >= 1:
            self.stdout.write("  settings (value, Django setting, where it came from):")
            for attr, global_name, shown, source in report.settings:
                named = f"  {global_name}" if global_name else ""
                self.stdout.write(f"    {attr} = {shown}{named}  [{source}]")

    def _transfer(self, options: dict[str, Any]) -> None:
        source = storages[self._alias(options["source"])]
        destination = storages[self._alias(options["destination"])]
        if not isinstance(destination, BaseStorage):
            raise CommandError(
                f"The destination {options['destination']!r} is {type(destination).__name__}, "
                "not a django-stowage storage: copy and sync write through a sync session."
            )
        if options["jobs"] < 1:
            raise CommandError("--jobs must be at least 1.")
        dry_run = options["dry_run"]
        progress = Progress(self.stderr, options["action"], enabled=self.verbosity >= 1)

        def on_event(kind: str, name: str, size: int) -> None:
            progress.event(kind, name, size)
            if dry_run or self.verbosity >= 2:
                verb = {"copied": "copy", "deleted": "delete", "skipped": "skip"}.get(kind, kind)
                self.stdout.write(f"{'Would ' + verb if dry_run else kind.capitalize()} {name}")

        started = time.monotonic()
        try:
            stats = transfer(
                source,
                destination,
                options["prefix"],
                jobs=options["jobs"],
                dry_run=dry_run,
                delete=options.get("delete", False),
                size_only=options["size_only"],
                on_event=on_event,
            )
        except SyncFailed as exc:
            raise CommandError(failure_message(exc, "copied")) from exc
        finally:
            progress.close()
        if self.verbosity >= 1:
            verb = "would be copied" if dry_run else "copied"
            if stats.server_side:
                verb += f" ({stats.server_side} inside the service)"
            self.stdout.write(
                f"{stats.copied} {verb}, {stats.skipped} skipped (identical), {stats.deleted} "
                f"deleted, {format_bytes(stats.bytes)} in {time.monotonic() - started:.2f} s."
            )
