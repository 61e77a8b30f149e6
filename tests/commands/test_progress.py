"""The progress display: a redrawn line on a terminal, a line per tenth elsewhere."""

from __future__ import annotations

import io

from storages._progress import Progress, format_bytes


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True

    def write(self, text: str, ending: str = "\n") -> int:  # Django's OutputWrapper signature
        return super().write(text + ending)


class Log(Terminal):
    def isatty(self) -> bool:
        return False


def test_format_bytes():
    assert format_bytes(512) == "512 B"
    assert format_bytes(1536) == "1.5 KiB"
    assert format_bytes(3 * 1024**3) == "3.0 GiB"


def test_plain_lines_once_per_tenth():
    log = Log()
    progress = Progress(log, "copy", total=100)
    for _ in range(100):
        progress.advance(1024)
    progress.close()
    lines = log.getvalue().splitlines()
    assert len(lines) == 10
    assert lines[-1].startswith("copy: 100/100 files, 100.0 KiB")


def test_terminal_line_is_redrawn_and_ended():
    terminal = Terminal()
    progress = Progress(terminal, "collectstatic", total=4)
    for _ in range(4):
        progress.advance()
    progress.close()
    text = terminal.getvalue()
    assert text.startswith("\rcollectstatic [")
    assert "[########################] 4/4 files" in text
    assert text.endswith("\n")


def test_disabled_and_empty_show_nothing():
    log = Log()
    Progress(log, "x", total=3, enabled=False).advance()
    Progress(log, "y", total=3).close()
    assert log.getvalue() == ""
