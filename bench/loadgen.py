"""An open-loop HTTP/1.1 load generator on asyncio, run as its own process by ``python -m bench``.

    python -m bench.loadgen SPEC.json  →  one JSON line: sent, ok, errors, p50_ms, p99_ms, rate

SPEC: {"rate": req/s, "seconds": n, "connections": n, "mix": [{"weight": 90, "method": "GET",
"url": "http://127.0.0.1:8000/path", "headers": {...}, "body": "..."}, ...]}.

With ``"server_timing": true`` it also reads each answer's ``Server-Timing`` header (a ``total``
and the parts, as ``GET /api/me/summary`` sends it) and reports the composition overhead per
request: ``over_p50_ms``/``over_p99_ms`` = latency here minus the slowest part's ``dur``, and
``handler_over_p50_ms``/``_p99_ms`` = ``total`` minus the slowest part (inside the gateway).

Open loop: request i is due at ``i / rate`` whatever happened before, and its latency counts from
that moment (queueing for a free connection included), so a slow server cannot slow the clock down
(no coordinated omission). Keep-alive connections, raw asyncio streams: no HTTP library on the hot
path. ``python -m bench`` shows the generator is not the limit by checking it keeps its schedule
(``lag_p99_ms``: how late requests left) and against ``hey`` on the same route.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from typing import Any
from urllib.parse import urlsplit


async def read_headers(reader: asyncio.StreamReader, seen: dict[bytes, bytes] | None = None) -> tuple[int, bool, bool]:
    """Content-Length, chunked, Connection: close; the value of each header named in ``seen`` into it."""
    length, chunked, close = 0, False, False
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            return length, chunked, close
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
        elif name == b"connection" and b"close" in value.lower():
            close = True
        elif seen is not None and name in seen:
            seen[name] = value.strip()


def server_timing(value: bytes) -> tuple[float, float] | None:
    """(``total``'s dur, the slowest other entry's dur) of a Server-Timing value, ms."""
    total, slowest = None, 0.0
    for entry in value.decode("latin-1").split(","):
        name, *params = entry.strip().split(";")
        dur = next((float(p.split("=", 1)[1]) for p in params if p.strip().startswith("dur=")), None)
        if dur is None:
            continue
        if name == "total":
            total = dur
        else:
            slowest = max(slowest, dur)
    return None if total is None else (total, slowest)


class Conn:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, raw: bytes, seen: dict[bytes, bytes] | None = None) -> int:
        if self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(raw)
        status_line = await self.reader.readline()
        if not status_line:
            self.writer = None
            raise ConnectionError("closed")
        status = int(status_line.split()[1])
        length, chunked, close = await read_headers(self.reader, seen)
        if chunked:
            while True:
                size = int((await self.reader.readline()).split(b";")[0], 16)
                await self.reader.readexactly(size + 2)
                if size == 0:
                    break
        else:
            await self.reader.readexactly(length)
        if close:
            self.writer.close()
            self.writer = None
        return status


def build(item: dict[str, Any]) -> tuple[str, int, bytes]:
    u = urlsplit(item["url"])
    path = u.path + (f"?{u.query}" if u.query else "")
    body = item.get("body", "").encode()
    headers = {"Host": u.netloc, "Connection": "keep-alive", **item.get("headers", {})}
    if body:
        headers.setdefault("Content-Type", "application/json")
        headers["Content-Length"] = str(len(body))
    head = f"{item.get('method', 'GET')} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return u.hostname or "127.0.0.1", u.port or 80, head.encode() + b"\r\n" + body


def pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, int(p / 100 * len(s)))]


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    rate, seconds = float(spec["rate"]), float(spec["seconds"])
    items = [(build(i), i.get("weight", 1)) for i in spec["mix"]]
    host, port = items[0][0][0], items[0][0][1]
    idle: asyncio.Queue[Conn] = asyncio.Queue()
    for _ in range(int(spec.get("connections", 64))):
        idle.put_nowait(Conn(host, port))
    rng = random.Random(15)
    choices = rng.choices([b for b, _ in items], weights=[w for _, w in items], k=int(rate * seconds))
    lat: list[float] = []
    lags: list[float] = []
    timed = bool(spec.get("server_timing"))
    over: list[float] = []  # latency here minus the slowest part
    handler_over: list[float] = []  # the handler's total minus the slowest part
    codes: dict[str, int] = {}
    errors = 0

    async def one(due: float, raw: bytes) -> None:
        nonlocal errors
        conn = await idle.get()
        seen: dict[bytes, bytes] | None = {b"server-timing": b""} if timed else None
        try:
            status = await conn.request(raw, seen)
            codes[str(status)] = codes.get(str(status), 0) + 1
            if status >= 400:
                errors += 1
        except (OSError, ConnectionError, ValueError, asyncio.IncompleteReadError):
            conn.writer = None
            errors += 1
        finally:
            idle.put_nowait(conn)
        lat.append((time.perf_counter() - due) * 1000)
        timing = server_timing(seen[b"server-timing"]) if seen else None
        if timing is not None:
            over.append(lat[-1] - timing[1])
            handler_over.append(timing[0] - timing[1])

    start = time.perf_counter() + 0.05
    tasks = []
    for i, (_, _, raw) in enumerate(choices):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        lags.append(max(0.0, time.perf_counter() - due) * 1000)
        tasks.append(asyncio.create_task(one(due, raw)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    return {
        "sent": len(choices),
        "errors": errors,
        "codes": codes,
        "rate": len(choices) / elapsed,
        "p50_ms": pct(lat, 50),
        "p99_ms": pct(lat, 99),
        "lag_p99_ms": pct(lags, 99),
        **(
            {
                "timed": len(over),
                "over_p50_ms": pct(over, 50),
                "over_p99_ms": pct(over, 99),
                "handler_over_p50_ms": pct(handler_over, 50),
                "handler_over_p99_ms": pct(handler_over, 99),
            }
            if timed
            else {}
        ),
    }


def main() -> None:
    spec = json.loads(open(sys.argv[1]).read())  # noqa: SIM115
    print(json.dumps(asyncio.run(run(spec))))


if __name__ == "__main__":
    main()
