"""Reading an upload (JSON envelope, CSV or XLSX) and checking every record's shape, in bulk."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, TypeAdapter, ValidationError

from services.kit.problems import InvalidInput, PayloadTooLarge, field_error

from .schemas import RecordIn
from .uploads import csv_rows, file_kind, flatten, nested, xlsx_rows

Mode = Literal["all_or_nothing", "partial"]
RowErrors = dict[int, list[dict[str, Any]]]
_RECORDS = TypeAdapter(list[RecordIn])
_RECORD = TypeAdapter(RecordIn)


class Envelope(BaseModel):
    body_id: uuid.UUID
    mode: Mode = "all_or_nothing"
    records: list[Any]


@dataclass(frozen=True)
class Upload:
    body_id: uuid.UUID
    mode: Mode
    records: list[Any]
    # The file's rows as read (column → text) for CSV and XLSX; None for JSON.
    rows: list[dict[str, str]] | None = None

    def flat(self, index: int) -> dict[str, str]:
        """Row ``index`` as the report shows it."""
        return self.rows[index] if self.rows is not None else flatten(self.records[index])


def _tabular(
    raw: bytes, content_type: str, query: dict[str, str], max_records: int, parsed: tuple[Any] | None = None
) -> tuple[Envelope, list[dict[str, str]] | None]:
    """CSV or XLSX with ``?body_id=&mode=`` in the query, with the file's rows; else a JSON envelope."""
    kind = file_kind(content_type, raw)
    if kind == "csv":
        rows = csv_rows(raw, content_type, max_records=max_records)
    elif kind == "xlsx":
        rows = xlsx_rows(raw, max_records=max_records)
    else:
        return Envelope.model_validate(parsed[0] if parsed is not None else json.loads(raw)), None
    envelope = Envelope.model_validate(
        {
            "body_id": query.get("body_id"),
            "mode": query.get("mode") or "all_or_nothing",
            "records": [nested(r) for r in rows],
        }
    )
    return envelope, rows


def parse_upload(
    raw: bytes, content_type: str, query: dict[str, str], *, max_records: int, parsed: tuple[Any] | None = None
) -> Upload:
    """JSON ``{body_id, mode, records}``, or CSV / XLSX with ``?body_id=&mode=`` in the query.
    ``parsed``: the JSON body as the kit's input guard parsed it already (kit.guards.parsed_json)."""
    try:
        envelope, rows = _tabular(raw, content_type, query, max_records, parsed)
    except json.JSONDecodeError as exc:
        raise InvalidInput("The body is not JSON", errors=[field_error(["body"], "malformed JSON")]) from exc
    except ValidationError as exc:
        raise InvalidInput(
            "The upload envelope is invalid",
            errors=[field_error(["body", *e["loc"]], e["msg"]) for e in exc.errors(include_url=False)],
        ) from exc
    if len(envelope.records) > max_records:
        raise PayloadTooLarge(f"a batch holds at most {max_records} records, this one {len(envelope.records)}")
    if not envelope.records:
        raise InvalidInput("The batch is empty", errors=[field_error(["body", "records"], "no records")])
    return Upload(body_id=envelope.body_id, mode=envelope.mode, records=envelope.records, rows=rows)


async def read_upload(
    raw: bytes, content_type: str, query: dict[str, str], *, max_records: int, parsed: tuple[Any] | None = None
) -> Upload:
    """``parse_upload``; an XLSX is unzipped and read off the event loop."""
    if file_kind(content_type, raw) == "xlsx":
        return await asyncio.to_thread(parse_upload, raw, content_type, query, max_records=max_records)
    return parse_upload(raw, content_type, query, max_records=max_records, parsed=parsed)


_NOT_AN_OBJECT = "Input should be a dictionary or an instance of "


def _as_before(type_: str, msg: str) -> dict[str, str]:
    """A record or candidate that is not an object, in the words it had when RecordIn and
    CandidateIn were BaseModels (schemas.py): type ``model_type``, which the report file translates."""
    if type_ == "dataclass_type" and msg.startswith(_NOT_AN_OBJECT):
        return {
            "msg": "Input should be a valid dictionary or instance of " + msg[len(_NOT_AN_OBJECT) :],
            "type": "model_type",
        }
    return {"msg": msg, "type": type_}


def check_shapes(records: list[Any]) -> tuple[dict[int, RecordIn], RowErrors]:
    """Every field error of every row; one pass over the whole list when all rows are well formed."""
    try:
        return dict(enumerate(_RECORDS.validate_python(records))), {}
    except ValidationError as exc:
        errors: RowErrors = defaultdict(list)
        for e in exc.errors(include_url=False, include_input=False, include_context=False):
            loc = list(e["loc"])
            errors[int(loc[0])].append({"loc": loc, **_as_before(e["type"], e["msg"])})
    valid = {i: _RECORD.validate_python(r) for i, r in enumerate(records) if i not in errors}
    return valid, dict(errors)
