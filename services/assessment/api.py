"""Routes for bodies, filings, batches and records: parse, call one use case, answer."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from services.kit.auth import Principal, require_roles
from services.kit.db import SessionDep
from services.kit.guards import parsed_json
from services.kit.idempotency import IdempotencyKey, request_hash
from services.kit.pages import Page, PageDep

from . import batches, bodies, filings, records
from .batch_files import MEDIA_TYPES, FileFormat, report_file, template_file
from .batch_input import read_upload
from .deps import ContextDep
from .schemas import BatchRead, BodyCreate, BodyRead, FilingCreate, FilingRead, ReasonIn, RecordRead
from .uploads import XLSX_TYPE

router = APIRouter(prefix="/v1", tags=["assessment"])
Admin = Annotated[Principal, require_roles("admin")]
AdminOrUniversity = Annotated[Principal, require_roles("admin", "university")]
University = Annotated[Principal, require_roles("university")]
RecordReader = Annotated[Principal, require_roles("admin", "university", "platform")]
BATCH_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["body_id", "records"],
                    "properties": {
                        "body_id": {"type": "string", "format": "uuid"},
                        "mode": {
                            "type": "string",
                            "enum": ["all_or_nothing", "partial"],
                            "default": "all_or_nothing",
                        },
                        "records": {
                            "type": "array",
                            "maxItems": 10000,
                            "items": {
                                "type": "object",
                                "description": "a RecordIn (see BatchRead rows for the answer)",
                            },
                        },
                    },
                }
            },
            "text/csv": {
                "schema": {
                    "type": "string",
                    "description": "header: external_id,id_number,name,student_no,"
                    "school_org,graduation_year,major,occupation_code,work_type,level,exam_date,"
                    "theory_score,practical_score,review_score (or 外部编号,身份证号,姓名,学号,学校,毕业年份,专业,"
                    "职业编码,工种,等级,考试日期,理论成绩,实操成绩,综合评审成绩); UTF-8 (BOM or not) or GB18030, "
                    "the charset of the Content-Type when given; body_id and mode in the query",
                }
            },
            XLSX_TYPE: {
                "schema": {
                    "type": "string",
                    "format": "binary",
                    "description": "the first sheet, headers as for CSV (a second header row is skipped); "
                    "dates as Excel dates or ISO text; body_id and mode in the query",
                }
            },
        },
    }
}


@router.post("/bodies", response_model=BodyRead, status_code=201)
async def create_body(data: BodyCreate, session: SessionDep, _: Admin) -> BodyRead:
    return await bodies.create_body(session, data=data)


@router.get("/bodies/{body_id}", response_model=BodyRead)
async def get_body(body_id: uuid.UUID, session: SessionDep, principal: AdminOrUniversity) -> BodyRead:
    return await bodies.get_body(session, principal=principal, body_id=body_id)


@router.get("/bodies", response_model=Page[BodyRead])
async def list_bodies(
    session: SessionDep,
    principal: AdminOrUniversity,
    page: PageDep,
    university_org: Annotated[str | None, Query(max_length=100)] = None,
) -> Page[BodyRead]:
    return await bodies.list_bodies(session, principal=principal, page=page, university_org=university_org)


@router.post("/bodies/{body_id}/filings", response_model=FilingRead, status_code=201)
async def create_filing(
    body_id: uuid.UUID, data: FilingCreate, session: SessionDep, principal: Admin, ctx: ContextDep
) -> FilingRead:
    return await filings.create_filing(session, ctx.catalogue, principal=principal, body_id=body_id, data=data)


@router.post("/bodies/{body_id}/filings/{filing_id}/{action}", response_model=FilingRead)
async def change_filing(
    body_id: uuid.UUID,
    filing_id: uuid.UUID,
    action: Literal["suspend", "revoke"],
    data: ReasonIn,
    session: SessionDep,
    principal: Admin,
) -> FilingRead:
    return await filings.change_filing(
        session, principal=principal, body_id=body_id, filing_id=filing_id, action=action, reason=data.reason
    )


@router.post(
    "/batches",
    response_model=BatchRead,
    status_code=201,
    openapi_extra=BATCH_BODY,
    responses={200: {"description": "dry run: the row report, nothing stored (JSON, or CSV/XLSX by Accept)"}},
)
async def upload_batch(
    request: Request,
    session: SessionDep,
    principal: University,
    ctx: ContextDep,
    idempotency_key: IdempotencyKey = None,
    dry_run: Annotated[bool, Query(description="check everything, store nothing, take no numbers")] = False,
) -> Response:
    raw = await request.body()
    content_type = request.headers.get("content-type", "application/json")
    upload = await read_upload(
        raw,
        content_type,
        dict(request.query_params),
        max_records=ctx.settings.max_batch_records,
        parsed=parsed_json(request.scope),
    )
    if dry_run:
        answer, report = await batches.dry_run_batch(session, ctx.catalogue, principal=principal, upload=upload)
        fmt = _accepted_file(request.headers.get("accept", ""))
        if fmt is not None:
            return await _file(report_file, report, fmt, "dry-run-report")
        return JSONResponse(answer, status_code=200)
    answer = await batches.upload_batch(
        session,
        ctx.catalogue,
        principal=principal,
        upload=upload,
        sealer=ctx.sealer,
        learner_key=ctx.settings.shared.learner_id_key,
        idempotency_key=idempotency_key,
        # The parsed upload, so the same content re-sent with other whitespace is the same request.
        body_hash=request_hash({"body_id": str(upload.body_id), "mode": upload.mode, "records": upload.records}),
    )
    # Built from checked values already; re-validating 10,000 rows against BatchRead costs more than COPY.
    return JSONResponse(answer, status_code=201)


def _accepted_file(accept: str) -> FileFormat | None:
    """A dry run answers a file when the client asks for XLSX or CSV rather than JSON."""
    kinds = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    for kind in kinds:
        if kind == MEDIA_TYPES["xlsx"]:
            return "xlsx"
        if kind == "text/csv":
            return "csv"
    return None


async def _file(make: Callable[[Any, FileFormat], bytes], content: Any, fmt: FileFormat, name: str) -> Response:
    data = await asyncio.to_thread(make, content, fmt)
    return Response(
        data,
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"'},
    )


@router.get("/batches/{batch_id}", response_model=BatchRead)
async def get_batch(batch_id: uuid.UUID, session: SessionDep, principal: AdminOrUniversity) -> BatchRead:
    return await batches.get_batch(session, principal=principal, batch_id=batch_id)


@router.get(
    "/batches/{batch_id}/report",
    response_class=Response,
    responses={200: {"content": {MEDIA_TYPES["xlsx"]: {}, "text/csv": {}}}},
)
async def get_batch_report(
    batch_id: uuid.UUID,
    session: SessionDep,
    principal: AdminOrUniversity,
    ctx: ContextDep,
    format: Annotated[FileFormat, Query()] = "xlsx",
) -> Response:
    """The uploaded rows with status, certificate number and each error in words (Chinese first)."""
    rows = await batches.batch_report(session, principal=principal, batch_id=batch_id, sealer=ctx.sealer)
    return await _file(report_file, rows, format, f"batch-{batch_id}-report")


@router.get(
    "/bodies/{body_id}/batch-template",
    response_class=Response,
    responses={200: {"content": {MEDIA_TYPES["xlsx"]: {}, "text/csv": {}}}},
)
async def get_batch_template(
    body_id: uuid.UUID,
    session: SessionDep,
    principal: AdminOrUniversity,
    format: Annotated[FileFormat, Query()] = "xlsx",
) -> Response:
    """Both header rows; in XLSX data validation from the body's filings in force and a column guide."""
    scope = await batches.template_scope(session, principal=principal, body_id=body_id)
    return await _file(template_file, scope, format, f"batch-template-{body_id}")


@router.get("/records", response_model=Page[RecordRead])
async def list_records(
    session: SessionDep,
    principal: RecordReader,
    page: PageDep,
    ctx: ContextDep,
    learner_id: Annotated[str | None, Query(max_length=40)] = None,
    body_id: uuid.UUID | None = None,
    batch_id: uuid.UUID | None = None,
    occupation_code: Annotated[str | None, Query(max_length=20)] = None,
    passed: bool | None = None,
    exam_date_from: date | None = None,
    exam_date_to: date | None = None,
) -> Page[RecordRead]:
    filters = records.RecordFilters(
        learner_id=learner_id,
        body_id=body_id,
        batch_id=batch_id,
        occupation_code=occupation_code,
        passed=passed,
        exam_date_from=exam_date_from,
        exam_date_to=exam_date_to,
    )
    return await records.list_records(session, principal=principal, filters=filters, page=page, sealer=ctx.sealer)
