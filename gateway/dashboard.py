"""``/dashboard``: the bureau's key figures and charts, server-rendered, no script at all.

The admin signs in with a token (pasted once, kept in an HttpOnly, SameSite=Strict cookie scoped to
``/dashboard``); every figure comes from the statistics service over the gateway's own upstream
client with that token, so the service applies its own access rules. A part that cannot be
fetched is shown as unavailable; the page never fails for one slow view.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

import aiohttp
from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from services.kit.auth import verifier_of
from services.kit.obs import REQUEST_ID_HEADER, request_id_var
from services.kit.problems import Problem

from . import charts
from .deps import context

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
SERVICE = "statistics"
COOKIE = "skillpass_dashboard"
PART_TIMEOUT_S = 10.0
# Styles inline in the template, no script, no outside resource.
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
# part → (view, query)
PARTS: dict[str, tuple[str, dict[str, str]]] = {
    "totals": ("certificates", {}),
    "by_month": ("certificates", {"group_by": "month,level"}),
    "by_occupation": ("certificates", {"group_by": "occupation,occupation_name"}),
    "by_district": ("certificates", {"group_by": "district,body_kind"}),
    "coverage": ("catalogue_coverage", {"group_by": "edition,edition_title"}),
    "graduates": ("graduates", {}),
    "conversions": ("conversions", {}),
    "points": ("points", {}),
    "subsidies": ("subsidies", {}),
}


async def _admin(request: Request, token: str | None) -> bool:
    if not token:
        return False
    try:
        principal = await verifier_of(request.app).verify(token)
    except Problem:
        return False
    return bool(principal.is_admin)


async def _fetch(request: Request, token: str, view: str, query: dict[str, str]) -> Any:
    upstreams = context(request).upstreams
    url = f"{upstreams.bases[SERVICE]}/v1/statistics/{view}" + (f"?{urlencode(query)}" if query else "")
    headers = {"Authorization": f"Bearer {token}", REQUEST_ID_HEADER: request_id_var.get()}
    timeout = aiohttp.ClientTimeout(total=PART_TIMEOUT_S)
    async with upstreams.session(SERVICE).get(url, headers=headers, timeout=timeout) as resp:
        if resp.status != 200:
            raise LookupError(f"{SERVICE} answered {resp.status}")
        return json.loads(await resp.read())


def _pct(value: Any) -> str:
    return "—" if value is None else f"{float(value) * 100:.1f}%"


def _occupation(row: dict[str, Any]) -> str:
    name = row.get("occupation_name") or ""
    return f"{row['occupation']} {name}".strip()


def _short(text: str, n: int = 16) -> str:
    """Edition titles differ at the end (the year), so the end is what is kept."""
    return text if len(text) <= n else "…" + text[-(n - 1) :]


def _month_chart(answer: dict[str, Any]) -> Any:
    months = sorted({r["month"] for r in answer["rows"]})[-24:]
    levels = sorted({int(r["level"]) for r in answer["rows"]})
    counts = {(r["month"], int(r["level"])): float(r["issued"]) for r in answer["rows"]}
    series = {lv: [counts.get((m, lv), 0.0) for m in months] for lv in levels}
    return charts.stacked_columns(months, series, label="每月发证数(按等级)")


def _charts(parts: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "by_month" in parts:
        out["by_month"] = _month_chart(parts["by_month"])
    if "by_occupation" in parts:
        top = sorted(parts["by_occupation"]["rows"], key=lambda r: (-r["issued"], r["occupation"]))[:10]
        out["by_occupation"] = charts.horizontal_bars(
            [(_occupation(r), float(r["issued"])) for r in top], label="发证最多的职业", label_w=260
        )
    if "coverage" in parts:
        rows = parts["coverage"]["rows"]
        out["coverage"] = charts.split_bars(
            [
                (
                    _short(r["edition_title"] or r["edition"]),
                    float(r["entries_with_certificates"]),
                    float(r["entries_without_certificates"]),
                )
                for r in rows
            ],
            label="目录覆盖",
            names=("已有证书的条目", "尚无证书的条目"),
        )
    if "by_district" in parts:
        per: dict[str, float] = {}
        for r in parts["by_district"]["rows"]:
            per[r["district"]] = per.get(r["district"], 0.0) + float(r["issued"])
        out["by_district"] = charts.horizontal_bars(
            sorted(per.items(), key=lambda kv: -kv[1]), label="各区发证数", colour="#41ab5d", label_w=120
        )
    return out


async def _page(request: Request, token: str) -> Response:
    names = list(PARTS)
    results = await asyncio.gather(
        *(_fetch(request, token, view, query) for view, query in PARTS.values()), return_exceptions=True
    )
    parts = {n: r for n, r in zip(names, results, strict=True) if not isinstance(r, BaseException)}
    unavailable = [n for n, r in zip(names, results, strict=True) if isinstance(r, BaseException)]
    context = {
        "parts": parts,
        "charts": _charts(parts),
        "unavailable": unavailable,
        "pct": _pct,
        "district_rows": parts.get("by_district", {}).get("rows", []),
    }
    return templates.TemplateResponse(request, "dashboard.html", context, headers=HEADERS)


@router.get("/dashboard")
async def dashboard(request: Request) -> Response:
    token = request.cookies.get(COOKIE)
    if not await _admin(request, token):
        return templates.TemplateResponse(request, "dashboard_login.html", {"error": None}, headers=HEADERS)
    assert token is not None
    return await _page(request, token)


@router.post("/dashboard/login")
async def login(request: Request, token: Annotated[str, Form(max_length=8000)]) -> Response:
    """An admin token signs in; anything else is refused on the same form (401)."""
    token = token.strip()
    if not await _admin(request, token):
        return templates.TemplateResponse(
            request,
            "dashboard_login.html",
            {"error": "需要有效的管理员令牌 (an admin token is required)"},
            status_code=401,
            headers=HEADERS,
        )
    resp = RedirectResponse("/dashboard", status_code=303)
    resp.set_cookie(
        COOKIE, token, httponly=True, samesite="strict", path="/dashboard", secure=request.url.scheme == "https"
    )
    return resp


@router.post("/dashboard/logout")
async def logout() -> Response:
    resp = RedirectResponse("/dashboard", status_code=303)
    resp.delete_cookie(COOKIE, path="/dashboard")
    return resp
