"""py-spy profile of one process under load: where a missed target's time goes.

    python -m bench.profile [catalogue|gateway] [--seconds 8]
    python -m bench.profile incentives --path '/v1/points/evaluations?learner_id=l1&limit=1' --role student --sub l1

Starts the platform as ``python -m bench`` does, loads ``GET /v1/lookup`` (direct for the
catalogue, through the gateway for the gateway) with hey, records the process with py-spy
(``pip install py-spy``; not a project dependency) and prints the functions with the most samples,
own and cumulative. With ``--path`` it loads that GET on the target service directly instead, with
a token of ``--role``/``--sub`` (the summary's parts: see docs/bench.md); the database is empty
apart from the demo catalogue, so a read path's own cost shows, not its rows'.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import shutil
import subprocess
import tempfile
from pathlib import Path

from .__main__ import RAISED_LIMITS
from .catalogue_lookup import QUERY, _load_demo
from .harness import platform

FLAGS = ("-r", "200", "--nonblocking", "-p")


PACKAGES = (
    *("asyncpg", "sqlalchemy", "sqlmodel", "fastapi", "starlette", "uvicorn", "pydantic", "jose", "anyio"),
    *("pydantic_core", "cryptography", "aiohttp", "httpx", "httpcore", "h11", "json"),
)


def _package(frame: str) -> str:
    """The library a py-spy frame ``func (path/to/file.py:line)`` belongs to."""
    path = frame.rpartition("(")[2]
    top = path.split("/")[0]
    if top in PACKAGES:
        return top
    if top in ("services", "gateway", "skillpass"):
        return "ours"
    if top in ("asyncio", "<frozen importlib._bootstrap_external>") or "asyncio" in path:
        return "asyncio"
    return "other (stdlib, prometheus_client, ...)"


def summarise(raw: Path, top: int) -> str:
    own: collections.Counter[str] = collections.Counter()
    by_package: collections.Counter[str] = collections.Counter()
    cum: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        frames = stack.split(";")
        if any("Condition.wait" in f or "select (selectors" in f or "epoll_" in f for f in frames):
            continue  # idle: a worker thread waiting, or the event loop waiting for sockets (uvloop: --native)
        total += int(n)
        own[frames[-1]] += int(n)
        by_package[_package(frames[-1])] += int(n)
        for f in set(frames):
            cum[f] += int(n)
    out = [f"{total} samples (idle excluded)", "", "own time by package:"]
    out += [f"{100 * n / total:5.1f}%  {f}" for f, n in by_package.most_common()]
    out += ["", "own:"]
    out += [f"{100 * n / total:5.1f}%  {f}" for f, n in own.most_common(top)]
    out += ["", "cumulative:"]
    out += [f"{100 * n / total:5.1f}%  {f}" for f, n in cum.most_common(top * 2)]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "target",
        nargs="?",
        default="catalogue",
        choices=["catalogue", "gateway", "assessment", "credit_bank", "incentives"],
    )
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument(
        "--native",
        action="store_true",
        help="C frames too (py-spy pauses the process per sample): uvloop's idle wait is then told "
        "apart from its work, which without it all shows as Runner.run",
    )
    parser.add_argument("--path", help="a GET on the target itself instead of the lookup")
    parser.add_argument("--role", default="admin")
    parser.add_argument("--sub", default=None)
    args = parser.parse_args()
    spy = shutil.which("py-spy") or str(Path(__import__("sys").executable).with_name("py-spy"))
    names = tuple(dict.fromkeys(("gateway", "catalogue", args.target)))
    with platform(names, RAISED_LIMITS) as plat:
        asyncio.run(_load_demo(plat.db_admin))
        token = plat.token(args.role, sub=args.sub)
        if args.path:
            url = f"{plat.url(args.target)}{args.path}"
        elif args.target in ("catalogue", "gateway"):
            url = (
                f"{plat.url('catalogue')}/v1/lookup?{QUERY}"
                if args.target == "catalogue"
                else f"{plat.url('gateway')}/api/catalogue/v1/lookup?{QUERY}"
            )
        else:
            raise SystemExit("--path is needed for that target")
        load = subprocess.Popen(
            ["hey", "-z", f"{args.seconds + 3}s", "-c", "32", "-H", f"Authorization: Bearer {token}", url],
            stdout=subprocess.DEVNULL,
        )
        raw = Path(tempfile.mkdtemp()) / "profile.txt"
        pid = plat.procs[args.target].pid
        subprocess.run(
            [
                spy,
                "record",
                "--format",
                "raw",
                "-o",
                str(raw),
                "-d",
                str(args.seconds),
                *(("-r", "100", "--native", "-p") if args.native else FLAGS),
                str(pid),
            ],
            check=True,
            capture_output=True,
        )
        load.wait()
    print(summarise(raw, args.top))


if __name__ == "__main__":
    main()
