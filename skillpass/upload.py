"""``skillpass upload FILE --body ID``: a results file (CSV or XLSX) to ``POST /batches``, the row
report written beside the file, with a progress bar for people at a terminal.

The Idempotency-Key is derived from the file, body and mode, so running the same command again
after a dropped connection gets the first answer instead of a second batch.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CHUNK = 64 * 1024


@dataclass(frozen=True)
class Outcome:
    status_code: int
    answer: dict[str, Any]
    report: Path | None


def media_type_of(path: Path) -> tuple[str, str]:
    """The Content-Type to send and the report's format, from the file's extension."""
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        return XLSX, "xlsx"
    if suffix in (".csv", ".txt"):
        return "text/csv", "csv"  # no charset: the service reads UTF-8 or GB18030
    raise ValueError(f"{path.name}: an upload is a .csv or .xlsx file")


def report_path(path: Path, fmt: str, *, dry_run: bool) -> Path:
    return path.with_name(f"{path.stem}.{'dry-run-' if dry_run else ''}report.{fmt}")


async def upload_file(
    client: httpx.AsyncClient,
    path: Path,
    *,
    body_id: str,
    mode: str = "partial",
    dry_run: bool = False,
    headers: dict[str, str] | None = None,
    on_progress: Callable[[str, int, int], None] = lambda stage, done, total: None,
) -> Outcome:
    """Uploads ``path`` through ``client`` (base URL ``…/api/assessment``) and writes the report.

    ``on_progress(stage, done, total)`` is told of ``upload`` bytes, then ``check`` and ``report``.
    An all_or_nothing batch that is refused stores nothing; its report then comes from a dry run.
    """
    content_type, fmt = media_type_of(path)
    data = await asyncio.to_thread(path.read_bytes)
    params = {"body_id": body_id, "mode": mode}
    base = dict(headers or {})
    key = hashlib.sha256(b"\n".join([data, body_id.encode(), mode.encode()])).hexdigest()[:40]

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(data), CHUNK):
            yield data[start : start + CHUNK]
            on_progress("upload", min(start + CHUNK, len(data)), len(data))

    send = {**base, "Content-Type": content_type, "Content-Length": str(len(data))}
    if dry_run:
        send["Accept"] = "application/json"
        r = await client.post("/v1/batches", params={**params, "dry_run": "true"}, headers=send, content=chunks())
    else:
        r = await client.post("/v1/batches", params=params, headers={**send, "Idempotency-Key": key}, content=chunks())
    on_progress("check", 1, 1)
    answer = r.json()
    refused = r.status_code == 422 and str(answer.get("type", "")).endswith("batch-rejected")
    if r.status_code >= 400 and not refused:
        return Outcome(r.status_code, answer, None)
    if dry_run or refused:
        # The same checks again, answered as the report file (nothing is stored either way).
        report = await client.post(
            "/v1/batches",
            params={**params, "dry_run": "true"},
            headers={**send, "Accept": XLSX if fmt == "xlsx" else "text/csv"},
            content=data,
        )
    else:
        report = await client.get(f"/v1/batches/{answer['batch_id']}/report", params={"format": fmt}, headers=base)
    report.raise_for_status()
    on_progress("report", 1, 1)
    out = report_path(path, fmt, dry_run=dry_run or refused)
    await asyncio.to_thread(out.write_bytes, report.content)
    return Outcome(r.status_code, answer, out)
