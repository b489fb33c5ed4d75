"""``skillpass sync`` and ``skillpass reconcile``: the platform's clients, registered on the CLI."""

from __future__ import annotations

import asyncio
import logging
import os
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from .apiclient import FeedSpec

GatewayOpt = Annotated[str, typer.Option(envvar="SKILLPASS_GATEWAY_URL", help="the gateway's base URL")]
ClientIdOpt = Annotated[str, typer.Option(envvar="SKILLPASS_SYNC_CLIENT_ID", help="a platform client's id")]
SecretOpt = Annotated[
    str, typer.Option(envvar="SKILLPASS_SYNC_CLIENT_SECRET", help="its secret (prefer the environment variable)")
]
TargetOpt = Annotated[
    str, typer.Option(envvar="SKILLPASS_SYNC_TARGET", help="file:///dir or postgresql://user:pw@host/db[?schema=]")
]
FeedOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--feed",
        help="a feed to follow (repeatable): a service (credit-bank) or name=/api/x/v1/events; default: every service",
    ),
]


def _feeds(values: list[str] | None) -> list[FeedSpec]:
    from .apiclient import FeedSpec, default_feeds

    env = os.environ.get("SKILLPASS_SYNC_FEEDS")
    chosen = values or ([v for v in env.split(",") if v.strip()] if env else None)
    return [FeedSpec.parse(v) for v in chosen] if chosen else default_feeds()


def register(app: typer.Typer) -> None:
    @app.command()
    def sync(
        target: TargetOpt,
        client_id: ClientIdOpt,
        client_secret: SecretOpt,
        gateway: GatewayOpt = "http://127.0.0.1:8000",
        feed: FeedOpt = None,
        follow: Annotated[bool, typer.Option("--follow/--once", help="keep polling, or stop when caught up")] = False,
        page_size: Annotated[int, typer.Option(min=1, max=1000)] = 500,
        poll_interval: Annotated[float, typer.Option(help="seconds between polls when caught up")] = 1.0,
    ) -> None:
        """Mirror every service's change feed into a database or JSON-lines files, without loss or duplicates."""
        from .apiclient import ApiClient
        from .mirror import open_target
        from .sync import SyncOptions, run_sync

        logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
        logging.getLogger("skillpass.sync").setLevel(logging.INFO)  # progress lines; httpx stays quiet
        options = SyncOptions(once=not follow, page_size=page_size, poll_interval_s=poll_interval)

        async def main() -> None:
            async with ApiClient(gateway, client_id, client_secret) as client:
                await run_sync(client, open_target(target), _feeds(feed), options)

        asyncio.run(main())

    @app.command()
    def reconcile(
        target: TargetOpt,
        client_id: ClientIdOpt,
        client_secret: SecretOpt,
        gateway: GatewayOpt = "http://127.0.0.1:8000",
        feed: FeedOpt = None,
    ) -> None:
        """Per feed and day, counts and checksums of the mirror against the feed; exits 1 on drift."""
        from .apiclient import ApiClient
        from .mirror import open_target
        from .reconcile import run_reconcile

        async def main() -> bool:
            async with ApiClient(gateway, client_id, client_secret) as client:
                reports = await run_reconcile(client, open_target(target), _feeds(feed))
            return all(r.ok for r in reports)

        raise typer.Exit(0 if asyncio.run(main()) else 1)
