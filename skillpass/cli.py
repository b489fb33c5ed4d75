"""The ``skillpass`` command: run, serve, migrate, seed, token, clients, check-connections, upload."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from .client_commands import register as register_platform_clients
from .registry import ALL, GATEWAY

app = typer.Typer(help="skillpass developer and operator commands", no_args_is_help=True)
clients_app = typer.Typer(help="OAuth clients", no_args_is_help=True)
app.add_typer(clients_app, name="clients")
register_platform_clients(app)  # sync, reconcile (skillpass/client_commands.py)


@app.command()
def token(
    role: Annotated[str, typer.Option(help="admin | university | student | platform | service")],
    org: Annotated[str | None, typer.Option(help="university org (role university)")] = None,
    sub: Annotated[str | None, typer.Option(help="subject; a learner_id for role student")] = None,
    scope: Annotated[list[str] | None, typer.Option(help="scopes (repeatable)")] = None,
    ttl: Annotated[int, typer.Option(help="lifetime in seconds")] = 3600,
) -> None:
    """Mint a dev token signed with the gateway's key; prints the bare JWT."""
    from services.kit.auth import ROLES, Principal, parse_role

    from .tokens import gateway_token

    parsed = parse_role(role)
    if parsed is None:
        raise typer.BadParameter(f"role must be one of {', '.join(ROLES)}", param_hint="--role")
    principal = Principal(sub=sub or f"dev-{role}", role=parsed, org=org)
    if principal.is_university and not org:
        raise typer.BadParameter("a university token needs --org", param_hint="--org")
    if principal.is_student and not sub:
        raise typer.BadParameter("a student token needs --sub <learner_id>", param_hint="--sub")
    typer.echo(gateway_token(sub=principal.sub, role=principal.role, org=principal.org, scopes=scope or [], ttl_s=ttl))


def _db_admin_url() -> str:
    from .bootstrap import bootstrap
    from .local import DATABASE_NAME, role_passwords
    from .runner import database

    admin_url, _ = database()
    return asyncio.run(bootstrap(admin_url, DATABASE_NAME, role_passwords()))


@clients_app.command("create")
def clients_create(
    name: Annotated[str, typer.Option()],
    role: Annotated[str, typer.Option()],
    org: Annotated[str | None, typer.Option()] = None,
    scope: Annotated[list[str] | None, typer.Option()] = None,
) -> None:
    """Register an OAuth client; prints {client_id, client_secret} (the secret is shown once)."""
    from gateway.clients import ClientCreate, register_client

    from .seed import _with_session

    data = ClientCreate(name=name, role=role, org=org, scopes=scope or [])
    created = asyncio.run(_with_session(_db_admin_url(), GATEWAY, lambda s: register_client(s, data=data)))
    typer.echo(created.model_dump_json(indent=2))


@app.command()
def migrate() -> None:
    """Create the database, roles and schemas if missing, and run every service's migrations."""
    _db_admin_url()
    typer.echo("migrated: " + ", ".join(s.name for s in ALL))


@app.command()
def seed() -> None:
    """Load demo data (idempotent)."""
    from .local import DevSecrets
    from .seed import seed_all

    report = asyncio.run(seed_all(_db_admin_url(), DevSecrets.load_or_create()))
    typer.echo(json.dumps(report, indent=2, default=str))


@app.command()
def serve(
    name: Annotated[
        str, typer.Argument(help="gateway | catalogue | assessment | credit_bank | incentives | statistics")
    ],
    workers: Annotated[int, typer.Option()] = 1,
) -> None:
    """Run one process with uvicorn, configured from its settings (SKILLPASS_<NAME>_*)."""
    import importlib

    import uvicorn

    spec = next((s for s in ALL if s.name == name), None)
    if spec is None:
        raise typer.BadParameter(f"one of {', '.join(s.name for s in ALL)}", param_hint="name")
    settings = _settings_for(name)
    importlib.import_module(spec.app.partition(":")[0])
    # SIGTERM drains in-flight requests for up to 25 s (Kubernetes grace is 40 s, preStop 10 s).
    uvicorn.run(
        spec.app,
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        log_config=None,
        access_log=False,
        # X-Forwarded-For is read by the kit from configured trusted proxies only (services/kit/net.py);
        # uvicorn's own handling believed any loopback peer, which let clients pick their address.
        proxy_headers=False,
        # Longer than the gateway's pool keeps an idle connection (30 s), so the gateway does not
        # send on a connection the service has just closed.
        timeout_keep_alive=65,
        timeout_graceful_shutdown=25,
    )


@app.command("check-connections")
def check_connections(
    manifests: Annotated[
        str | None, typer.Option(help="a kustomize directory, e.g. deploy/k8s/overlays/example")
    ] = None,
    max_connections: Annotated[int | None, typer.Option(help="the server's limit (default: ask the database)")] = None,
) -> None:
    """Check that replicas × pool size per process stays under the database's connection limits."""
    from .capacity import ProcessPool, check_budget, read_k8s_budget

    if manifests:
        budgets = read_k8s_budget(manifests)
    else:
        pools = []
        for spec in ALL:
            s = _settings_for(spec.name)
            pools.append(ProcessPool(spec.name, s.db_max_replicas, s.db_pool_size, s.db_max_overflow))
        limit = max_connections or _server_max_connections()
        budgets = [check_budget(pools, limit=limit)]
    for budget in budgets:
        typer.echo(budget.report())
    raise typer.Exit(0 if all(b.ok for b in budgets) else 1)


def _settings_for(name: str):  # type: ignore[no-untyped-def]
    import importlib

    path = {"gateway": "gateway.settings:GatewaySettings"}.get(
        name, f"services.{name}.settings:{''.join(p.title() for p in name.split('_'))}Settings"
    )
    module, _, cls = path.partition(":")
    return getattr(importlib.import_module(module), cls)()


def _server_max_connections() -> int:
    import asyncpg
    from sqlalchemy.engine import make_url

    url = make_url(_db_admin_url()).set(drivername="postgresql").render_as_string(hide_password=False)

    async def ask() -> int:
        conn = await asyncpg.connect(url)
        try:
            return int(await conn.fetchval("SHOW max_connections"))
        finally:
            await conn.close()

    return asyncio.run(ask())


@app.command()
def upload(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="results as .csv or .xlsx")],
    body: Annotated[str, typer.Option(help="the assessment body's id")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="check everything, store nothing")] = False,
    mode: Annotated[str, typer.Option(help="partial | all_or_nothing")] = "partial",
    url: Annotated[str, typer.Option(help="the gateway")] = "http://127.0.0.1:8000",
    token: Annotated[
        str | None, typer.Option(envvar="SKILLPASS_TOKEN", help="a university token (skillpass token ...)")
    ] = None,
) -> None:
    """Upload a results file to POST /batches; the row report is written beside the file."""
    import httpx
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

    from .upload import media_type_of, upload_file

    if not token:
        raise typer.BadParameter("a university token is needed (--token or SKILLPASS_TOKEN)", param_hint="--token")
    try:
        media_type_of(file)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="FILE") from exc

    async def go() -> Any:
        with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), transient=True) as bar:
            task = bar.add_task("uploading", total=file.stat().st_size)

            def progress(stage: str, done: int, total: int) -> None:
                labels = {"upload": "uploading", "check": "checking", "report": "report"}
                bar.update(task, description=labels[stage], completed=done if stage == "upload" else None)

            async with httpx.AsyncClient(base_url=f"{url.rstrip('/')}/api/assessment", timeout=300) as client:
                return await upload_file(
                    client,
                    file,
                    body_id=body,
                    mode=mode,
                    dry_run=dry_run,
                    headers={"Authorization": f"Bearer {token}"},
                    on_progress=progress,
                )

    outcome = asyncio.run(go())
    a = outcome.answer
    if outcome.report is None:
        typer.echo(f"{outcome.status_code}: {a.get('detail') or a}", err=True)
        raise typer.Exit(1)
    if "accepted" in a:
        verb = "would be" if dry_run else "were"
        typer.echo(f"{a['accepted']} accepted, {a['rejected']} rejected, {a['duplicates']} duplicates ({verb} stored)")
    else:
        typer.echo(f"refused, nothing stored: {a.get('detail')}")
    typer.echo(f"report: {outcome.report}")
    raise typer.Exit(0 if outcome.status_code < 400 and not a.get("rejected") else 2)


@app.command()
def run() -> None:
    """Everything for local work: embedded PostgreSQL, migrations, demo data, six processes."""
    from .runner import run as run_all

    run_all()


def main() -> None:
    os.environ.setdefault("SKILLPASS_ENV", "dev")
    app()


if __name__ == "__main__":
    main()
