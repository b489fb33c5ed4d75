"""``/verify``: the public certificate check page, server-rendered, Chinese first, no script at all.

It asks assessment's public API (``GET /v1/verify``, ``POST /v1/credentials/verify``) and shows only
the fields that API answers. Every request takes a token from the same per-address bucket as an
anonymous API call, and assessment's own per-address verify limit applies behind it (the client's
address is forwarded as the proxy forwards it). The holder's name travels in a POST body, never in
a URL, so it stays out of browser history and logs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import aiohttp
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.datastructures import UploadFile

from services.kit.net import client_address
from services.kit.obs import REQUEST_ID_HEADER, request_id_var
from services.kit.problems import RateLimited

from .deps import context
from .docs import page_headers, take_public_quota, templates
from .verify_text import CHECKS, LANGS, LEVELS, TEXT

router = APIRouter(include_in_schema=False)
SERVICE = "assessment"
MAX_CREDENTIAL_BYTES = 64 * 1024
MAX_NAME, MAX_NUMBER = 100, 40
UPSTREAM_TIMEOUT_S = 10.0
# No script may run on this page; styles come only from our own file.
VERIFY_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
# Only what GET /v1/verify answers is shown (and nothing else it might add later).
SHOWN = ("status", "occupation_name", "level", "issued_on", "body_name", "holder_name_masked")
CHECK_RESULTS = frozenset({"pass", "warn", "fail"})
# What a verified credential says about itself (shown only when every check passed or warned).
CREDENTIAL_SHOWN = ("name", "certificate_number", "holder_name_masked", "issuer_name", "awarded_date", "valid_until")


@dataclass
class Answer:
    status: int  # 0: the service could not be reached
    body: Any = None
    retry_after: str | None = None


def _lang(value: object) -> str:
    return value if isinstance(value, str) and value in LANGS else "zh"


async def _ask(
    request: Request, method: str, path: str, *, params: dict[str, str] | None = None, payload: Any = None
) -> Answer:
    """One call to assessment with the client's address forwarded like the proxy does."""
    upstreams = context(request).upstreams
    headers = {REQUEST_ID_HEADER: request_id_var.get(), "Accept": "application/json"}
    # Only the address the gateway determined itself, as the proxy sends it (issue 11).
    headers["X-Forwarded-For"] = client_address(request)
    data = None
    if payload is not None:
        data = json.dumps(payload).encode()
        headers["Content-Type"] = "application/json"
    timeout = aiohttp.ClientTimeout(total=UPSTREAM_TIMEOUT_S)
    url = upstreams.bases[SERVICE] + path
    try:
        session = upstreams.session(SERVICE)
        async with session.request(method, url, params=params, data=data, headers=headers, timeout=timeout) as r:
            raw = await r.read()
            status, retry_after = r.status, r.headers.get("Retry-After")
    except (aiohttp.ClientError, TimeoutError):
        return Answer(0)
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = None
    return Answer(status, body, retry_after)


def _render(request: Request, lang: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    headers = page_headers(VERIFY_CSP) | {"Cache-Control": "no-store", "Content-Language": TEXT[lang]["html_lang"]}
    if context.get("retry_after"):
        headers["Retry-After"] = context["retry_after"]
    values = {
        "t": TEXT[lang],
        "lang": lang,
        "other": "en" if lang == "zh" else "zh",
        "levels": LEVELS[lang],
        "check_names": CHECKS[lang],
        "mode": "number",
        "number": "",
        "name": "",
        "result": None,
        "checks": None,
        "notice": None,
    }
    return templates.TemplateResponse(
        request, "verify.html", values | context, status_code=status_code, headers=headers
    )


def _failure(request: Request, lang: str, answer: Answer, **context: Any) -> HTMLResponse:
    """A rate limit or an unreachable service, in the page's words."""
    if answer.status == 429:
        seconds = answer.retry_after or "1"
        notice = TEXT[lang]["rate_limited"].format(seconds=seconds)
        return _render(request, lang, 429, notice=notice, notice_kind="warn", retry_after=seconds, **context)
    return _render(request, lang, 503, notice=TEXT[lang]["unavailable"], notice_kind="error", **context)


async def _over_quota(request: Request, lang: str) -> HTMLResponse | None:
    """The API's per-address limit, answered as a page rather than a problem document."""
    try:
        await take_public_quota(request)
    except RateLimited as limited:
        return _failure(request, lang, Answer(429, retry_after=limited.headers.get("Retry-After")))
    return None


@router.get("/verify", response_class=HTMLResponse)
async def verify_form(request: Request, lang: str = "zh", number: str = "") -> HTMLResponse:
    """The empty form; ``?number=`` fills in the number (for a link or QR code on a certificate)."""
    lang = _lang(lang)
    return await _over_quota(request, lang) or _render(request, lang, number=number.strip()[:MAX_NUMBER])


@router.post("/verify", response_class=HTMLResponse)
async def verify_submit(request: Request, lang: str = "zh") -> HTMLResponse:
    """A check; the language comes in the form's action (``?lang=``) so a refusal needs no parsing."""
    lang = _lang(lang)
    if limited := await _over_quota(request, lang):
        return limited
    form = await request.form(max_files=1, max_fields=8)
    if form.get("mode") == "credential":
        return await _check_credential(request, lang, form.get("credential"), form.get("file"))
    number = str(form.get("number") or "").strip()
    name = str(form.get("name") or "").strip()
    return await _check_number(request, lang, number, name)


async def _check_number(request: Request, lang: str, number: str, name: str) -> HTMLResponse:
    context: dict[str, Any] = {"number": number[:MAX_NUMBER], "name": name[:MAX_NAME]}
    if not number or not name or len(number) > MAX_NUMBER or len(name) > MAX_NAME:
        return _render(request, lang, 422, notice=TEXT[lang]["invalid"], notice_kind="error", **context)
    answer = await _ask(request, "GET", "/v1/verify", params={"number": number, "name": name})
    if answer.status == 422:
        return _render(request, lang, 422, notice=TEXT[lang]["invalid"], notice_kind="error", **context)
    if answer.status != 200 or not isinstance(answer.body, dict):
        return _failure(request, lang, answer, **context)
    found = answer.body.get("found") is True
    result = {"found": found} | ({k: answer.body.get(k) for k in SHOWN} if found else {})
    return _render(request, lang, result=result, **context)


async def _credential_text(field: object, upload: object) -> str | None:
    """The pasted or uploaded credential, or None when missing or too large."""
    if isinstance(upload, UploadFile) and upload.filename:
        raw = await upload.read(MAX_CREDENTIAL_BYTES + 1)
        text = raw.decode("utf-8", "replace") if len(raw) <= MAX_CREDENTIAL_BYTES else ""
    else:
        text = field if isinstance(field, str) else ""
    text = text.strip()
    return text if 0 < len(text.encode()) <= MAX_CREDENTIAL_BYTES else None


def credential_payload(text: str) -> dict[str, Any]:
    """The request body for ``POST /v1/credentials/verify`` (docs/assessment.md): the compact VC-JWT
    as given; pasted JSON that already is such a body (``{"credential": ..., "jwt": ...}``) as it is;
    other JSON as the credential's payload, with its ``jwt`` member when it has one."""
    if text.startswith("{"):
        try:
            pasted = json.loads(text)
        except ValueError:
            pasted = None
        if isinstance(pasted, dict):
            if "credential" in pasted:
                return {k: pasted[k] for k in ("credential", "jwt") if k in pasted}
            jwt = pasted.pop("jwt", None)
            return {"credential": pasted} | ({"jwt": jwt} if jwt is not None else {})
    return {"credential": text}


def _checks(body: Any) -> list[dict[str, str]] | None:
    items = body.get("checks") if isinstance(body, dict) else None
    if not isinstance(items, list):
        return None
    return [
        {
            "check": str(c.get("check", "")),
            "result": c["result"] if c.get("result") in CHECK_RESULTS else "fail",
            "message": str(c.get("message") or ""),
        }
        for c in items
        if isinstance(c, dict)
    ]


async def _check_credential(request: Request, lang: str, field: object, upload: object) -> HTMLResponse:
    t = TEXT[lang]
    text = await _credential_text(field, upload)
    if text is None:
        return _render(request, lang, 422, mode="credential", notice=t["invalid_credential"], notice_kind="error")
    answer = await _ask(request, "POST", "/v1/credentials/verify", payload=credential_payload(text))
    if answer.status in (404, 405, 501):  # the credentials service is not deployed yet
        return _render(request, lang, mode="credential", notice=t["vc_unavailable"], notice_kind="warn")
    if answer.status in (400, 422):
        detail = answer.body.get("detail") if isinstance(answer.body, dict) else None
        notice = t["invalid_credential"] + (f" ({detail})" if isinstance(detail, str) else "")
        return _render(request, lang, 422, mode="credential", notice=notice, notice_kind="error")
    checks = _checks(answer.body) if answer.status == 200 else None
    if checks is None:
        return _failure(request, lang, answer, mode="credential")
    verified = isinstance(answer.body, dict) and answer.body.get("verified") is True
    claimed = answer.body.get("credential") if verified else None
    return _render(request, lang, mode="credential", checks=checks, verified=verified, credential=_claims(claimed))


def _claims(claimed: object) -> dict[str, str | None] | None:
    """The credential's summary as text, dates as days."""
    if not isinstance(claimed, dict):
        return None
    out = {k: None if claimed.get(k) is None else str(claimed[k]) for k in CREDENTIAL_SHOWN}
    for day in ("awarded_date", "valid_until"):
        value = out[day]
        out[day] = value[:10] if value else None
    return out
