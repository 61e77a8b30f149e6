"""The test-server framework itself: free ports, readiness polling, clean stops."""

from __future__ import annotations

import sys
import urllib.request

import pytest

from tests.servers import ServerProcess, free_port, port_open, unavailable, wait_until


def test_server_process_starts_answers_and_stops(tmp_path):
    (tmp_path / "hello.txt").write_text("hi")
    port = free_port()
    server = ServerProcess(
        "http",
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)],
        port,
        cwd=tmp_path,
    ).start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/hello.txt") as response:
            assert response.read() == b"hi"
    finally:
        server.stop()
    assert not port_open(port)


def test_a_server_that_exits_reports_its_output():
    server = ServerProcess(
        "broken", [sys.executable, "-c", "print('cannot start'); exit(3)"], free_port(), timeout=10
    )
    with pytest.raises(RuntimeError, match="exited with 3: cannot start"):
        server.start()


def test_wait_until_times_out():
    with pytest.raises(TimeoutError):
        wait_until(lambda: False, timeout=0.2, what="nothing")


def test_unavailable_fails_in_ci(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception):
        unavailable("no server")
    monkeypatch.setenv("CI", "")
    with pytest.raises(pytest.skip.Exception):
        unavailable("no server")
