"""The demo's direct-upload page in headless Chromium: a file of several MB goes from the page
straight to the embedded S3 server (presigned multipart parts, then a presigned POST for a small
file), the progress bar reaches the end, and the stored bytes are read back through boto3."""

from __future__ import annotations

import os
import re
import urllib.request
from typing import Any

import pytest

# The demo site and the browser, as the demo's own browser test starts them.
from tests.example.test_demo_browser import browser, demo_site  # noqa: F401

MiB = 1024 * 1024
#: Above the widget's 16 MiB threshold: goes in presigned multipart parts.
LARGE = 21 * MiB + 3
BUCKET = "stowage-demo"


@pytest.fixture(scope="module")
def direct_site(demo_site: str) -> tuple[str, Any]:  # noqa: F811
    """The direct-upload page of the demo and a boto3 client of its embedded S3 server."""
    import boto3
    from botocore.config import Config

    # The page's script is a static file served from the bucket: its URL shows the endpoint.
    with urllib.request.urlopen(demo_site + "direct/", timeout=30) as response:
        html = response.read().decode()
    script = re.search(r'<script src="(http://[0-9.:]+)/' + BUCKET + "/static/storages/", html)
    assert script, "the page does not load storages/direct-upload.js from the bucket"
    client = boto3.client(
        "s3",
        endpoint_url=script.group(1),
        region_name="us-east-1",
        aws_access_key_id="demo",
        aws_secret_access_key="demo-secret",
        config=Config(s3={"addressing_style": "path"}),
    )
    return demo_site + "direct/", client


def _upload(page: Any, path: str, title: str) -> None:
    page.set_input_files("#id_file", path)
    page.wait_for_function(
        "['done', 'error'].includes(document.querySelector('[data-direct-upload]').dataset.state)",
        timeout=120_000,
    )
    box = page.locator("[data-direct-upload]")
    assert box.get_attribute("data-state") == "done", box.locator("[data-role=status]").inner_text()
    assert page.locator("progress").evaluate("p => p.value") == 100
    assert page.locator("input[type=hidden][name=file]").input_value()
    page.fill("#id_title", title)
    page.click("#save")
    page.wait_for_load_state()


def test_large_file_goes_straight_to_the_bucket(direct_site, browser, tmp_path) -> None:  # noqa: F811
    url, client = direct_site
    data = os.urandom(LARGE)
    path = tmp_path / "big video.mp4"
    path.write_bytes(data)
    page = browser.new_page()
    sent: list[str] = []
    page.on("request", lambda request: sent.append(f"{request.method} {request.url}"))
    progress: list[int] = []
    page.expose_function("reportProgress", lambda value: progress.append(int(value)))
    page.goto(url)
    # Record every value the script gives the progress bar as the upload runs.
    page.evaluate(
        """() => { const p = document.querySelector('progress');
             const set = Object.getOwnPropertyDescriptor(HTMLProgressElement.prototype, 'value');
             Object.defineProperty(p, 'value', {get() { return set.get.call(this); },
               set(v) { set.set.call(this, v); window.reportProgress(v); }}); }"""
    )
    _upload(page, str(path), "Big")

    # The file never went through the site: only parts to the bucket, then the token.
    parts = [line for line in sent if line.startswith("PUT ") and "partNumber=" in line]
    assert len(parts) == 3, sent
    posts_to_site = [line for line in sent if line.startswith("POST " + url)]
    assert posts_to_site, sent
    assert progress and progress[-1] == 100 and any(0 < value < 100 for value in progress)

    row = page.locator("tr.file").first
    name = row.locator("a.download").inner_text()
    assert re.fullmatch(r"direct/\d{4}/\d{2}/big_video_\w{7}\.mp4", name), name
    body = client.get_object(Bucket=BUCKET, Key=f"media/{name}")["Body"].read()
    assert body == data
    assert row.locator(".size").inner_text().strip() == str(LARGE)


def test_small_file_is_one_presigned_post(direct_site, browser, tmp_path) -> None:  # noqa: F811
    url, client = direct_site
    data = os.urandom(3 * MiB)
    path = tmp_path / "notes.pdf"
    path.write_bytes(data)
    page = browser.new_page()
    sent: list[str] = []
    page.on("request", lambda request: sent.append(f"{request.method} {request.url}"))
    page.goto(url)
    _upload(page, str(path), "Notes")
    assert any(line.startswith("POST ") and f"/{BUCKET}/" in line for line in sent), sent
    name = page.locator("tr.file a.download").first.inner_text()
    head = client.head_object(Bucket=BUCKET, Key=f"media/{name}")
    assert head["ContentType"] == "application/pdf"
    assert client.get_object(Bucket=BUCKET, Key=f"media/{name}")["Body"].read() == data


def test_cors_refusal_is_explained(direct_site, browser, tmp_path) -> None:  # noqa: F811
    url, client = direct_site
    saved = client.get_bucket_cors(Bucket=BUCKET)["CORSRules"]
    client.put_bucket_cors(
        Bucket=BUCKET,
        CORSConfiguration={
            "CORSRules": [
                {"AllowedOrigins": ["https://elsewhere.example"], "AllowedMethods": ["PUT"]}
            ]
        },
    )
    try:
        path = tmp_path / "blocked.txt"
        path.write_bytes(b"x" * 1000)
        page = browser.new_page()
        page.goto(url)
        page.set_input_files("#id_file", str(path))
        page.wait_for_function(
            "document.querySelector('[data-direct-upload]').dataset.state === 'error'",
            timeout=60_000,
        )
        status = page.locator("[data-role=status]").inner_text()
        assert "CORS" in status and "direct-uploads" in status, status
        assert page.locator("input[type=hidden][name=file]").input_value() == ""
    finally:
        client.put_bucket_cors(Bucket=BUCKET, CORSConfiguration={"CORSRules": saved})
