"""``manage.py demo``: prepare and start the example site.

Without ``AWS_STORAGE_BUCKET_NAME`` in the environment it first starts an embedded S3 server
(moto, in this process, so the files collected and uploaded live as long as the site runs) and
creates the bucket. Then it migrates, collects the static files into the bucket, prints the URL
and serves the site.
"""

from __future__ import annotations

import socket
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Command(BaseCommand):
    help = "Start the example site (with an embedded S3 server unless a real bucket is set)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--addr", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.EMBEDDED_S3:
            self._start_embedded_s3(f"http://{options['addr']}:{options['port']}")
        else:
            bucket = settings.AWS_STORAGE_BUCKET_NAME
            self.stdout.write(f"Using bucket {bucket} on the real service.")
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("Collecting static files into the bucket ...")
        call_command("collectstatic", interactive=False, verbosity=0)
        url = f"http://{options['addr']}:{options['port']}/"
        self.stdout.write(self.style.SUCCESS(f"\n  Open {url}\n"), ending="")
        self.stdout.flush()
        call_command("runserver", f"{options['addr']}:{options['port']}", use_reloader=False)

    def _start_embedded_s3(self, site: str) -> None:
        import logging

        import boto3
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per S3 request

        port = _free_port()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        endpoint = f"http://127.0.0.1:{port}"
        # The storages are created lazily, on first use: they will read this endpoint.
        settings.AWS_S3_ENDPOINT_URL = endpoint
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="demo",
            aws_secret_access_key="demo-secret",
        )
        client.create_bucket(Bucket=settings.AWS_STORAGE_BUCKET_NAME)
        # The direct-upload page sends files from the site's origin straight to the bucket:
        # the CORS rule of docs/direct-uploads.md, for this site only.
        client.put_bucket_cors(
            Bucket=settings.AWS_STORAGE_BUCKET_NAME,
            CORSConfiguration={
                "CORSRules": [
                    {
                        "AllowedOrigins": [site, site.replace("127.0.0.1", "localhost")],
                        "AllowedMethods": ["POST", "PUT"],
                        "AllowedHeaders": ["*"],
                        "ExposeHeaders": ["ETag"],
                        "MaxAgeSeconds": 3600,
                    }
                ]
            },
        )
        self.stdout.write(
            f"Embedded S3 server at {endpoint}, bucket "
            f"{settings.AWS_STORAGE_BUCKET_NAME} (no account or network needed)."
        )
