"""The README's demo, driven in headless Chromium: upload, list, follow the URL, delete."""

from __future__ import annotations

import os
import struct
import sys
import urllib.request
import zlib
from pathlib import Path

import pytest

from tests.servers import ServerProcess, free_port, start_or_unavailable, unavailable

EXAMPLE = Path(__file__).resolve().parents[2] / "example"
CHROMIUM = "/usr/bin/chromium"


def tiny_png(width: int = 4, height: int = 3) -> bytes:
    """Return a valid RGB PNG (so the page can show it as a thumbnail)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + os.urandom(width * 3) for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def demo_site(tmp_path_factory):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_STORAGE")}
    env["DEMO_DATABASE"] = str(tmp_path_factory.mktemp("demo") / "demo.sqlite3")
    url = f"http://127.0.0.1:{port}/"

    def ready() -> bool:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)

    server = ServerProcess(
        "demo-site",
        [sys.executable, "manage.py", "demo", "--port", str(port)],
        port,
        cwd=EXAMPLE,
        ready=ready,
        timeout=90,
    )
    server.env = env
    start_or_unavailable(server)
    yield url
    server.stop()


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        unavailable("Debian's chromium is not installed (scripts/servers/browser.sh)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


def test_upload_list_follow_and_delete(demo_site, browser, tmp_path):
    picture = tmp_path / "holiday photo.png"
    data = tiny_png()
    picture.write_bytes(data)
    page = browser.new_page()
    page.goto(demo_site)
    # The stylesheet is a hashed static file served from the bucket.
    stylesheet = page.locator("link[rel=stylesheet]").get_attribute("href")
    assert "/static/gallery/site." in stylesheet and not stylesheet.endswith("/site.css")
    assert page.evaluate("getComputedStyle(document.body).maxWidth") == "960px"

    page.set_input_files("#id_file", str(picture))
    page.fill("#id_title", "Holiday")
    page.click("#upload")
    page.wait_for_load_state()
    row = page.locator("tr.file").first
    link = row.locator("a.download")
    assert "holiday_photo" in link.inner_text()
    assert row.locator(".size").inner_text().strip() == f"{len(data)}\xa0bytes"
    href = link.get_attribute("href")
    assert "X-Amz-Signature=" in href
    page.wait_for_function("document.querySelector('img.thumb').naturalWidth > 0")

    viewer = browser.new_page()
    response = viewer.goto(href)
    assert response.status == 200
    assert response.body() == data

    row.locator("button.delete").click()
    page.wait_for_load_state()
    assert page.locator("tr.file").count() == 0
    assert viewer.goto(href).status == 404
