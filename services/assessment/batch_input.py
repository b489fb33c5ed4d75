"""Reading an upload (JSON envelope or CSV) and checking every record's shape, in bulk."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, TypeAdapter, ValidationError

from services.kit.problems import InvalidInput, PayloadTooLarge, field_error

from .schemas import RecordIn

Mode = Literal["all_or_nothing", "partial"]
RowErrors = dict[int, list[dict[str, Any]]]
CSV_COLUMNS = (
    "external_id",
    "id_number",
    "name",
    "student_no",
    "school_org",
    "graduation_year",
    "major",
    "occupation_code",
    "work_type",
    "level",
    "exam_date",
    "theory_score",
    "practical_score",
    "review_score",
)
CANDIDATE_COLUMNS = frozenset({"id_number", "name", "student_no", "school_org", "graduation_year", "major"})
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


def _csv_records(raw: bytes) -> list[dict[str, Any]]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput("CSV must be UTF-8", errors=[field_error(["body"], "not UTF-8")]) from exc
    reader = csv.DictReader(io.StringIO(text))
    try:
        header = reader.fieldnames or ()
    except csv.Error as exc:
        raise InvalidInput("CSV could not be read", errors=[field_error(["body", "header"], str(exc))]) from exc
    missing = [c for c in CSV_COLUMNS if c not in header and c not in ("work_type", "review_score")]
    if missing:
        raise InvalidInput(
            "CSV header lacks columns",
            errors=[field_error(["body", "header"], f"missing {c}") for c in missing],
        )
    out: list[dict[str, Any]] = []
    try:
        for line in reader:
            record: dict[str, Any] = {"candidate": {}}
            for key, value in line.items():
                if key is None:
                    continue
                value = value.strip() if isinstance(value, str) else value
                if key in CANDIDATE_COLUMNS:
                    record["candidate"][key] = value
                elif key in CSV_COLUMNS and value != "":
                    record[key] = value
            out.append(record)
    except csv.Error as exc:  # e.g. a field over the csv module's 128 KiB limit
        raise InvalidInput(
            "CSV could not be read", errors=[field_error(["body", f"line {reader.line_num + 1}"], str(exc))]
        ) from exc
    return out


def parse_upload(raw: bytes, content_type: str, query: dict[str, str], *, max_records: int) -> Upload:
    """JSON ``{body_id, mode, records}``, or CSV with ``?body_id=&mode=`` in the query."""
    try:
        if content_type.split(";")[0].strip().lower() == "text/csv":
            envelope = Envelope.model_validate(
                {
                    "body_id": query.get("body_id"),
                    "mode": query.get("mode") or "all_or_nothing",
                    "records": _csv_records(raw),
                }
            )
        else:
            envelope = Envelope.model_validate(json.loads(raw))
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
    return Upload(body_id=envelope.body_id, mode=envelope.mode, records=envelope.records)


def check_shapes(records: list[Any]) -> tuple[dict[int, RecordIn], RowErrors]:
    """Every field error of every row; one pass over the whole list when all rows are well formed."""
    try:
        return dict(enumerate(_RECORDS.validate_python(records))), {}
    except ValidationError as exc:
        errors: RowErrors = defaultdict(list)
        for e in exc.errors(include_url=False, include_input=False, include_context=False):
            loc = list(e["loc"])
            errors[int(loc[0])].append({"loc": loc, "msg": e["msg"], "type": e["type"]})
    valid = {i: _RECORD.validate_python(r) for i, r in enumerate(records) if i not in errors}
    return valid, dict(errors)
