"""Hostile input refused once, in the kit (issue 11, finding 2 and 6): every case here was an
unhandled 500 from a real service before; each is now a 4xx problem naming the field. And a 500
that does happen carries its request id, logs one bounded line, and no SQL parameters."""

import io
import json
import logging
from typing import Annotated

import pytest
from fastapi import APIRouter, Form, Query
from pydantic import BaseModel
from sqlalchemy import text

from services.kit.app import create_service_app
from services.kit.auth import Principal, require_roles
from services.kit.db import SessionDep
from services.kit.obs import JsonFormatter
from services.kit.pages import PageDep, cursor_key, encode_cursor
from services.kit.settings import ServiceSettings
from tests.support.fixtures import app_client, shared_settings_for_tests

router = APIRouter(prefix="/v1")


class Note(BaseModel):
    title: str
    data: dict = {}


@router.get("/search")
async def search(session: SessionDep, q: Annotated[str, Query()]) -> dict:
    # Reaches PostgreSQL with the value, as the services' lookups do.
    found = (await session.execute(text("SELECT CAST(:q AS text)"), {"q": q})).scalar_one()
    return {"q": found}


@router.post("/notes")
async def notes(note: Note, session: SessionDep) -> dict:
    stored = (
        await session.execute(
            text("SELECT CAST(:d AS jsonb)"), {"d": json.dumps(note.model_dump(), ensure_ascii=False)}
        )
    ).scalar_one()
    return {"stored": stored}


@router.post("/login")
async def login(session: SessionDep, client_id: Annotated[str, Form()]) -> dict:
    found = (await session.execute(text("SELECT CAST(:c AS text)"), {"c": client_id})).scalar_one()
    return {"client_id": found}


@router.get("/items/{item_id}")
async def item(item_id: int, session: SessionDep) -> dict:
    found = (await session.execute(text("SELECT CAST(:i AS integer)"), {"i": item_id})).scalar_one()
    return {"id": found}


@router.get("/versions")
async def versions(page: PageDep, session: SessionDep) -> dict:
    after = cursor_key(page, lambda a: (str(a[0]), int(a[1])))
    v = after[1] if after else 0
    found = (await session.execute(text("SELECT CAST(:v AS integer) + 1"), {"v": v})).scalar_one()
    return {"next": found}


@router.get("/broken")
async def broken(session: SessionDep, _: Annotated[Principal, require_roles("admin")]) -> dict:
    secret = "$argon2id$v=19$m=65536,t=3,p=4$c2VjcmV0c2FsdA$" + "h" * 43
    await session.execute(text("SELECT no_such_column FROM catalogue.alembic_version WHERE :s = :s"), {"s": secret})
    return {}


@pytest.fixture
async def client(test_db, signing_key):
    settings = ServiceSettings(
        name="catalogue", database_url=test_db.role_urls["catalogue"], shared=shared_settings_for_tests()
    )
    app = create_service_app(settings, title="t", schema="catalogue", routers=[router], with_feed=False)
    async with app_client(app, test_db.engine("catalogue"), signing_key) as c:
        yield c


def _problem(r, status: int, loc: list) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["type"].startswith("https://skillpass.sh.gov.cn/problems/")
    assert body["errors"][0]["loc"] == loc, body
    return body


async def test_nul_in_query_is_422_naming_the_parameter(client):
    assert (await client.get("/v1/search", params={"q": "ok"})).json() == {"q": "ok"}
    _problem(await client.get("/v1/search?q=a%00b"), 422, ["query", "q"])


async def test_nul_in_path_is_400(client):
    _problem(await client.get("/v1/items/1%00"), 400, ["path"])


async def test_invalid_utf8_in_query_and_path_is_400(client):
    _problem(await client.get("/v1/search?q=%ff%fe"), 400, ["query", "q"])
    _problem(await client.get("/v1/items/%ff"), 400, ["path"])


async def test_nul_in_form_field_is_422_naming_it(client):
    ok = await client.post("/v1/login", data={"client_id": "cl_1"})
    assert ok.json() == {"client_id": "cl_1"}
    _problem(await client.post("/v1/login", data={"client_id": "cl\x001"}), 422, ["body", "client_id"])


async def test_nul_and_lone_surrogate_in_json_are_422_naming_the_field(client):
    ok = await client.post("/v1/notes", json={"title": "t", "data": {"k": ["v"]}})
    assert ok.json()["stored"] == {"title": "t", "data": {"k": ["v"]}}
    nul = b'{"title": "t", "data": {"k": ["ok", "a\\u0000b"]}}'
    _problem(
        await client.post("/v1/notes", content=nul, headers={"content-type": "application/json"}),
        422,
        ["body", "data", "k", 1],
    )
    surrogate = b'{"title": "\\ud800x"}'
    body = _problem(
        await client.post("/v1/notes", content=surrogate, headers={"content-type": "application/json"}),
        422,
        ["body", "title"],
    )
    assert "surrogate" in body["errors"][0]["msg"]
    # A proper pair (an emoji written as \u escapes) is fine.
    pair = b'{"title": "\\ud83d\\ude00"}'
    assert (await client.post("/v1/notes", content=pair, headers={"content-type": "application/json"})).json()[
        "stored"
    ]["title"] == "\U0001f600"


async def test_deeply_nested_json_is_400_not_a_recursion_error(client):
    deep = b'{"title": "t", "data": {"x": ' + b"[" * 10_000 + b"]" * 10_000 + b"}}"
    body = _problem(
        await client.post("/v1/notes", content=deep, headers={"content-type": "application/json"}), 400, ["body"]
    )
    assert "nested" in body["detail"]
    sixty_five = b'{"title": "t", "data": {"x": ' + b"[" * 65 + b"]" * 65 + b"}}"
    r = await client.post("/v1/notes", content=sixty_five, headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["errors"][0]["loc"][:3] == ["body", "data", "x"]


async def test_invalid_utf8_json_is_400(client):
    _problem(
        await client.post("/v1/notes", content=b'{"title": "\xff"}', headers={"content-type": "application/json"}),
        400,
        ["body"],
    )


async def test_malformed_json_stays_fastapis_422(client):
    r = await client.post("/v1/notes", content=b'{"title": ', headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"][0] == "body"


async def test_int32_overflow_in_cursor_or_path_is_422(client):
    _problem(await client.get("/v1/versions", params={"cursor": encode_cursor(["a", 2**31])}), 422, ["query", "cursor"])
    assert (await client.get("/v1/versions", params={"cursor": encode_cursor(["a", 7])})).json() == {"next": 8}
    _problem(await client.get("/v1/versions", params={"cursor": encode_cursor(["a\x00", 7])}), 422, ["query", "cursor"])
    # A path id past PostgreSQL's integer is caught by the database-data-error safety net.
    r = await client.get(f"/v1/items/{2**40}")
    assert r.status_code == 422 and r.json()["type"].endswith("/validation")


async def test_a_500_has_its_request_id_and_logs_one_short_line_without_parameters(client, tokens, caplog):
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter("t"))
    logging.getLogger().addHandler(handler)
    try:
        r = await client.get("/v1/broken", headers={**tokens.headers("admin"), "X-Request-ID": "rid-500"})
    finally:
        logging.getLogger().removeHandler(handler)
    assert r.status_code == 500
    assert r.headers["x-request-id"] == "rid-500"
    assert r.json()["type"].endswith("/internal") and "argon2" not in r.text
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    errors = [line for line in lines if line["level"] == "ERROR"]
    assert len(errors) == 1, lines
    assert errors[0]["request_id"] == "rid-500"
    assert "UndefinedColumn" in errors[0]["msg"] and "broken" in errors[0]["msg"]
    assert "argon2" not in out.getvalue() and "no_such_column" not in out.getvalue()
    assert len(out.getvalue()) < 3000, len(out.getvalue())
