from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel

from services.kit.auth import Principal, require_roles
from services.kit.db import SessionDep

from . import effects, export, graduates, sync, views
from .deps import ContextDep

router = APIRouter(prefix="/v1", tags=["statistics"])
Admin = Annotated[Principal, require_roles("admin")]
Readers = Annotated[Principal, require_roles("admin", "university", "platform")]
# Incentives reads the graduating-student counts with its own service token (the share of graduates certified).
GraduateReaders = Annotated[Principal, require_roles("admin", "university", "platform", "service")]
Code = Annotated[str | None, Query(pattern=r"^\d-\d{2}-\d{2}-\d{2}$")]


class StatisticsAnswer(BaseModel):
    view: str
    group_by: list[str]
    columns: list[str]
    rows: list[dict[str, Any]]
    totals: dict[str, Any]


MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@router.get("/statistics/{view}", response_model=StatisticsAnswer, summary="A statistics view, grouped and filtered")
async def statistics(
    view: str,
    session: SessionDep,
    principal: Readers,
    ctx: ContextDep,
    date_from: Annotated[date | None, Query(alias="from")] = None,
    date_to: Annotated[date | None, Query(alias="to")] = None,
    district: Annotated[str | None, Query(max_length=50)] = None,
    org: Annotated[str | None, Query(max_length=100)] = None,
    occupation_code: Code = None,
    level: Annotated[int | None, Query(ge=1, le=5)] = None,
    edition_id: Annotated[str | None, Query(max_length=64)] = None,
    group_by: Annotated[str, Query(max_length=200, description="comma-separated dimensions")] = "",
    format: Annotated[Literal["json", "csv", "xlsx"], Query()] = "json",
) -> Any:
    filters = {"district": district, "org": org, "occupation_code": occupation_code, "level": level}
    filters["edition_id"] = edition_id
    query = views.Query(view, [g for g in group_by.split(",") if g.strip()], filters, date_from, date_to)
    answer = await views.run_view(session, principal=principal, query=query, max_rows=ctx.settings.max_rows)
    if format == "json":
        return StatisticsAnswer(**answer.__dict__)
    body = export.to_csv(answer) if format == "csv" else export.to_xlsx(answer)
    name = f"{view}.{format}"
    return Response(body, media_type=MEDIA[format], headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/effects", response_model=effects.EffectTable, summary="Difference-in-differences for an edition")
async def effect(
    session: SessionDep,
    _: Admin,
    edition_id: Annotated[str, Query(max_length=64)],
    months: Annotated[int, Query(ge=1, le=60)] = 12,
) -> effects.EffectTable:
    return await effects.evaluate(session, edition_id=edition_id, months=months)


@router.put("/graduates", summary="Graduating-student counts per university and year")
async def put_graduates(data: graduates.GraduateCounts, session: SessionDep, _: Admin) -> dict[str, int]:
    return {"stored": await graduates.put_counts(session, data=data)}


@router.get("/graduates", response_model=list[graduates.GraduateCount])
async def get_graduates(
    session: SessionDep, principal: GraduateReaders, year: Annotated[int | None, Query(ge=2000, le=2100)] = None
) -> list[graduates.GraduateCount]:
    return await graduates.list_counts(session, principal=principal, year=year)


@router.post("/sync", response_model=list[sync.SourceResult], summary="Follow every source's feed to its end now")
async def sync_now(session: SessionDep, _: Admin, ctx: ContextDep) -> list[sync.SourceResult]:
    return await sync.sync_all(session, ctx.sources, page_size=ctx.settings.feed_page_size)
