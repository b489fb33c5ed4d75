"""Routes of the classification, industries, editions, entries and lookups: parse, call, answer."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Body, Query, Request, Response

from services.kit.auth import Principal, PrincipalDep, require_roles
from services.kit.clock import today_in_shanghai
from services.kit.db import ReaderDep, SessionDep, reader_of
from services.kit.pages import Page, PageDep

from . import diffs, editions, entries, importer, industries, lookups, occupations
from .deps import ContextDep, get_context
from .schemas import (
    DiffRead,
    EditionCreate,
    EditionRead,
    EditionStatus,
    EntryCreate,
    EntryRead,
    EntryUpdate,
    ImportResult,
    IndustryTaxonomyCreate,
    IndustryTaxonomyRead,
    LookupBatch,
    LookupRead,
    LookupResults,
    OccupationDetail,
    OccupationRead,
    PublishRequest,
)

router = APIRouter(prefix="/v1", tags=["catalogue"])
Admin = Annotated[Principal, require_roles("admin")]


@router.get("/occupations", response_model=Page[OccupationRead], summary="Search the classification")
async def list_occupations(
    ctx: ContextDep,
    session: SessionDep,
    _: PrincipalDep,
    page: PageDep,
    q: Annotated[str | None, Query(max_length=50)] = None,
    major: Annotated[str | None, Query(pattern=r"^[1-8]$")] = None,
) -> Page[OccupationRead]:
    return await occupations.list_occupations(
        session, classification=ctx.settings.classification, page=page, q=q, major=major
    )


@router.get("/occupations/{code}", response_model=OccupationDetail)
async def get_occupation(code: str, session: SessionDep, _: PrincipalDep, ctx: ContextDep) -> OccupationDetail:
    return await occupations.get_occupation(session, classification=ctx.settings.classification, code=code)


@router.post(
    "/occupations/import",
    response_model=ImportResult,
    summary="Upsert occupations (JSON, CSV, .xlsx)",
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
                "text/csv": {"schema": {"type": "string"}},
                importer.XLSX_TYPE: {"schema": {"type": "string", "format": "binary"}},
            }
        }
    },
)
async def import_occupations(request: Request, session: SessionDep, principal: Admin, ctx: ContextDep) -> ImportResult:
    settings = ctx.settings
    rows = await importer.parse_rows(await request.body(), request.headers.get("content-type", "application/json"))
    return await importer.import_occupations(
        session,
        raw_rows=rows,
        classification=settings.classification,
        max_rows=settings.max_import_rows,
        actor=principal.sub,
    )


@router.get("/industries", response_model=IndustryTaxonomyRead, summary="The industry tags, versioned")
async def get_industries(
    session: SessionDep, _: PrincipalDep, version: Annotated[str | None, Query(max_length=20)] = None
) -> IndustryTaxonomyRead:
    return await industries.get_taxonomy(session, version=version)


@router.post("/industries", response_model=IndustryTaxonomyRead, status_code=201)
async def publish_industries(
    body: IndustryTaxonomyCreate, session: SessionDep, principal: Admin
) -> IndustryTaxonomyRead:
    return await industries.publish_taxonomy(session, body=body, actor=principal.sub)


@router.get("/editions", response_model=Page[EditionRead])
async def list_editions(
    session: SessionDep, _: PrincipalDep, page: PageDep, status: EditionStatus | None = None
) -> Page[EditionRead]:
    return await editions.list_editions(session, page=page, status=status)


@router.get("/editions/{edition_id}", response_model=EditionRead)
async def get_edition(edition_id: uuid.UUID, session: SessionDep, _: PrincipalDep) -> EditionRead:
    return await editions.get_edition(session, edition_id=edition_id)


@router.post("/editions", response_model=EditionRead, status_code=201)
async def create_edition(body: EditionCreate, session: SessionDep, principal: Admin, ctx: ContextDep) -> EditionRead:
    return await editions.create_edition(
        session, body=body, classification=ctx.settings.classification, actor=principal.sub
    )


@router.get("/editions/{edition_id}/entries", response_model=list[EntryRead])
async def list_edition_entries(edition_id: uuid.UUID, session: SessionDep, _: PrincipalDep) -> list[EntryRead]:
    edition = await editions.load_edition(session, edition_id)
    return await entries.entries_of(session, edition.id, edition.classification)


@router.post("/editions/{edition_id}/entries", response_model=EntryRead, status_code=201)
async def add_entry(edition_id: uuid.UUID, body: EntryCreate, session: SessionDep, principal: Admin) -> EntryRead:
    return await entries.add_entry(session, edition_id=edition_id, body=body, actor=principal.sub)


@router.patch("/editions/{edition_id}/entries/{entry_id}", response_model=EntryRead)
async def update_entry(
    edition_id: uuid.UUID, entry_id: uuid.UUID, body: EntryUpdate, session: SessionDep, principal: Admin
) -> EntryRead:
    return await entries.update_entry(session, edition_id=edition_id, entry_id=entry_id, body=body, actor=principal.sub)


@router.delete("/editions/{edition_id}/entries/{entry_id}", status_code=204, response_class=Response)
async def remove_entry(edition_id: uuid.UUID, entry_id: uuid.UUID, session: SessionDep, principal: Admin) -> Response:
    await entries.remove_entry(session, edition_id=edition_id, entry_id=entry_id, actor=principal.sub)
    return Response(status_code=204)


@router.post("/editions/{edition_id}/publish", response_model=EditionRead)
async def publish_edition(
    edition_id: uuid.UUID, body: PublishRequest, session: SessionDep, principal: Admin
) -> EditionRead:
    return await editions.publish_edition(
        session, edition_id=edition_id, effective_from=body.effective_from, actor=principal.sub
    )


@router.get("/editions/{edition_id}/diff", response_model=DiffRead)
async def diff_editions(edition_id: uuid.UUID, against: uuid.UUID, session: SessionDep, _: PrincipalDep) -> DiffRead:
    return await diffs.diff_editions(session, edition_id=edition_id, against=against)


@router.get("/entries", response_model=entries.EntriesPage, summary="Entries in force on a date")
async def entries_as_of(
    session: SessionDep,
    _: PrincipalDep,
    page: PageDep,
    as_of: date | None = None,
    industry: Annotated[str | None, Query(max_length=40)] = None,
    min_level: Annotated[int | None, Query(ge=1, le=5)] = None,
    q: Annotated[str | None, Query(max_length=50)] = None,
) -> entries.EntriesPage:
    return await entries.entries_as_of(
        session, as_of=as_of or today_in_shanghai(), page=page, industry=industry, min_level=min_level, q=q
    )


@router.get("/lookup", response_model=LookupRead, summary="Was an occupation at a level in the catalogue on a date?")
async def lookup(
    request: Request,
    _: PrincipalDep,
    occupation_code: Annotated[str, Query(min_length=1, max_length=20)],
    level: Annotated[int, Query(ge=1, le=5)],
    as_of: date | None = None,
    work_type: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    # The context and the reader straight from the app, not as two more dependencies to solve:
    # the hot read's time was mostly framework (issue 15, B1).
    answer = await lookups.lookup_one(
        reader_of(request.app),
        occupation_code=occupation_code,
        level=level,
        as_of=as_of or today_in_shanghai(),
        work_type=work_type,
        classification=(await get_context(request)).settings.classification,
    )
    # Serialised once, by pydantic: returning the model made FastAPI validate it again against
    # response_model and encode it a second time (the documented schema is still LookupRead).
    return Response(answer.model_dump_json(), media_type="application/json")


@router.post("/lookups", response_model=LookupResults, summary="Many lookups in one call (up to 10,000)")
async def lookup_many(
    ctx: ContextDep,
    reader: ReaderDep,
    _: Annotated[Principal, require_roles("admin", "service", "platform", "university")],
    body: Annotated[LookupBatch, Body()],
) -> LookupResults:
    results = await lookups.lookup_many(reader, queries=body.queries, classification=ctx.settings.classification)
    return LookupResults(results=results)
