"""Container health check without curl: ``python -m skillpass.healthcheck [URL]``.

With no URL it checks ``/healthz`` of the process named by ``SKILLPASS_PROCESS`` (the image's
default command serves that one), on ``SKILLPASS_<NAME>_PORT`` or the registry's port.
Exit 0 when the answer is 200, 1 otherwise.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping

from .registry import ALL


def default_url(environ: Mapping[str, str]) -> str:
    name = environ.get("SKILLPASS_PROCESS", "gateway")
    spec = next((p for p in ALL if p.name == name), None)
    if spec is None:
        raise SystemExit(f"unknown SKILLPASS_PROCESS {name!r}")
    port = environ.get(f"SKILLPASS_{name.upper()}_PORT", str(spec.port))
    return f"http://127.0.0.1:{port}/healthz"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    url = args[0] if args else default_url(os.environ)
    try:
        with urllib.request.urlopen(url, timeout=3) as response:  # our own loopback URL
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError):
        return 1


if __name__ == "__main__":
    sys.exit(main())
