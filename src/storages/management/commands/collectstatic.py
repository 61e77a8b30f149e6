"""``collectstatic`` for this package's storages: one listing, checksums, parallel uploads.

Django's command asks the destination, for every file, whether it exists and when it was
modified (two requests each on S3), then deletes and uploads every file that looks newer. With
a django-stowage storage as the destination, this one lists the destination once, skips every
file whose stored checksum matches what would be stored, and uploads the others in ``--jobs``
threads. A manifest storage's post-processing runs in the same sync session
(:mod:`storages._sync`), so unchanged hashed copies are neither deleted nor uploaded again, and
the manifest is written only once every file it names is stored. Any other destination gets
Django's command unchanged.

Django takes a command from the first app in ``INSTALLED_APPS`` that has it: ``"storages"``
must come before ``"django.contrib.staticfiles"`` (system check ``storages.W004``).
"""

from __future__ import annotations

import time
from typing import Any

from django.contrib.staticfiles.finders import get_finders
from django.contrib.staticfiles.management.commands import collectstatic
from django.core.management.base import CommandError, CommandParser
from django.utils.functional import LazyObject, empty

from storages._progress import Progress, format_bytes
from storages._sync import DEFAULT_JOBS, SyncFailed, SyncSession, SyncStats
from storages.base import BaseStorage

__all__ = ["Command", "failure_message", "unwrapped"]

#: Failed names listed in the command's error (the rest are counted).
LISTED_FAILURES = 50


def unwrapped(storage: Any) -> Any:
    """Return the storage behind Django's lazy ``staticfiles_storage`` (or ``storage`` itself)."""
    if isinstance(storage, LazyObject):
        if storage._wrapped is empty:
            storage._setup()
        return storage._wrapped
    return storage


def failure_message(exc: SyncFailed, what: str) -> str:
    """Return a command error listing the names that failed and why."""
    lines = [f"{len(exc.failures)} file(s) could not be {what}:"]
    for name in sorted(exc.failures)[:LISTED_FAILURES]:
        error = exc.failures[name]
        lines.append(f"  {name}: {type(error).__name__}: {error}")
    if len(exc.failures) > LISTED_FAILURES:
        lines.append(f"  ... and {len(exc.failures) - LISTED_FAILURES} more")
    return "\n".join(lines)


class Command(collectstatic.Command):
    """Django's ``collectstatic``, accelerated when the destination is one of our storages."""

    help = (
        collectstatic.Command.help
        + " With a django-stowage storage: one listing of the destination, unchanged files "
        "skipped by checksum, uploads in parallel."
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.jobs = DEFAULT_JOBS
        self._session: SyncSession | None = None
        self.stats: SyncStats | None = None
        self.elapsed = 0.0

    def add_arguments(self, parser: CommandParser) -> None:
        """Add ``--jobs`` to Django's options."""
        super().add_arguments(parser)
        parser.add_argument(
            "-j",
            "--jobs",
            type=int,
            default=DEFAULT_JOBS,
            metavar="N",
            help="Files uploaded at the same time to a django-stowage storage "
            "(default: %(default)s).",
        )

    def set_options(self, **options: Any) -> None:
        """Read Django's options and ``--jobs``."""
        super().set_options(**options)
        jobs = options.get("jobs", DEFAULT_JOBS)
        if not isinstance(jobs, int) or jobs < 1:
            raise CommandError(f"--jobs must be a whole number of at least 1, not {jobs!r}.")
        self.jobs = jobs

    def handle(self, **options: Any) -> str | None:
        """Collect, then add the summary line (copied / skipped / deleted / bytes / time)."""
        self.stats = None
        message: str | None = super().handle(**options)
        if self.stats is not None and self.verbosity >= 1:
            message = f"{message or ''}\n{self.summary()}"
        return message

    def summary(self) -> str:
        """Return the line that says what the sync session did."""
        stats = self.stats or SyncStats()
        verb = "would be copied" if self.dry_run else "copied"
        return (
            f"django-stowage: {stats.copied} {verb}, {stats.skipped} skipped (unchanged), "
            f"{stats.deleted} deleted, {format_bytes(stats.bytes)} in {self.elapsed:.2f} s."
        )

    def collect(self) -> dict[str, list[str]]:
        """Collect into one sync session of the destination (Django's way for others)."""
        storage = unwrapped(self.storage)
        if not isinstance(storage, BaseStorage):
            return super().collect()  # type: ignore[no-any-return]
        if self.symlink:
            raise CommandError(
                f"--link (-l) makes symbolic links in a local STATIC_ROOT, but the static files "
                f"storage ({type(storage).__name__}) keeps them remotely, where no link can "
                "point at this machine's files. Run collectstatic without --link: it uploads "
                "only the files that changed."
            )
        started = time.monotonic()
        last_names, background = self._manifest(storage)
        progress = Progress(
            self.stderr, "collectstatic", self._expected(storage), enabled=self.verbosity >= 1
        )
        session: SyncSession | None = None
        try:
            with storage.sync_session(
                jobs=self.jobs,
                dry_run=self.dry_run,
                last_names=last_names,
                on_event=progress.event,
                background=background,
            ) as session:
                self._session = session
                collected: dict[str, list[str]] = super().collect()
        except SyncFailed as exc:
            raise CommandError(failure_message(exc, "stored")) from exc
        finally:
            self._session = None
            progress.close()
            self.elapsed = time.monotonic() - started
            if session is not None:
                self.stats = session.stats
        return collected

    def _manifest(self, storage: BaseStorage) -> tuple[list[str], bool]:
        """Return the names written last (the manifest) and whether uploads may run in the
        background: not when the manifest goes to another storage, whose write nothing orders."""
        name = getattr(storage, "manifest_name", None)
        if not name or not self.post_process:
            return [], True
        if unwrapped(getattr(storage, "manifest_storage", storage)) is storage:
            return [str(name)], True
        return [], False

    def _expected(self, storage: BaseStorage) -> int:
        """Return how many files the run will store or skip (for the progress display)."""
        found = {
            path if not getattr(source, "prefix", None) else f"{source.prefix}/{path}"
            for finder in get_finders()
            for path, source in finder.list(self.ignore_patterns)
        }
        if self.post_process and not self.dry_run and hasattr(storage, "hashed_name"):
            return 2 * len(found) + 1  # the hashed copies and the manifest
        return len(found)

    def clear_dir(self, path: str) -> None:
        """Delete every file of the destination (``--clear``), in parallel."""
        if self._session is None:
            super().clear_dir(path)
            return
        verb = "Pretending to delete" if self.dry_run else "Deleting"
        for name in self._session.clear():
            self.log(f"{verb} '{name}'", level=1)

    def copy_file(self, path: str, prefixed_path: str, source_storage: Any) -> None:
        """Store one found file unless the destination holds the same bytes already."""
        session = self._session
        if session is None:
            super().copy_file(path, prefixed_path, source_storage)
            return
        if prefixed_path in self.copied_files:
            self.log(f"Skipping '{path}' (already copied earlier)")
            return
        try:
            modified = source_storage.get_modified_time(path)
        except (OSError, NotImplementedError):
            modified = None
        with source_storage.open(path) as source_file:
            sent = session.put(prefixed_path, source_file, source_modified=modified)
        if not sent:
            self.log(f"Skipping '{path}' (not modified)")
            if prefixed_path not in self.unmodified_files:
                self.unmodified_files.append(prefixed_path)
            return
        try:
            shown = source_storage.path(path)  # what Django's command prints
        except NotImplementedError:
            shown = path
        if self.dry_run:
            self.log(f"Pretending to copy '{shown}'", level=1)
        else:
            self.log(f"Copying '{shown}'", level=2)
        self.copied_files.append(prefixed_path)
