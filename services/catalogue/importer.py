"""Bulk import of the classification (JSON, CSV or the bureau's .xlsx): upsert, per-row errors.

Hot path: each table is written with one ``INSERT … SELECT FROM unnest(…) ON CONFLICT`` whatever
the row count, and rows that did not change are neither written nor announced on the feed.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from typing import Any

from pydantic import ValidationError
from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from services.kit.problems import InvalidInput, PayloadTooLarge, field_error

from .models import SCHEMA
from .occupations import group_codes
from .schemas import ImportResult, ImportRow
from .sql import emit_events, run

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
LIST_FIELDS = ("work_types", "former_codes")
# The bureau's tables use Chinese headers; both spellings are accepted.
HEADER_ALIASES = {
    "职业编码": "code",
    "职业代码": "code",
    "编码": "code",
    "职业名称": "name",
    "名称": "name",
    "工种": "work_types",
    "原职业编码": "former_codes",
    "大类": "major_name",
    "中类": "middle_name",
    "小类": "minor_name",
}


def _tabular_row(raw: dict[str | None, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for key, value in raw.items():
        if key is None:
            continue
        name = HEADER_ALIASES.get(key.strip(), key.strip())
        cell = "" if value is None else str(value).strip()
        if cell == "":
            continue
        row[name] = [p.strip() for p in cell.split(";") if p.strip()] if name in LIST_FIELDS else cell
    return row


def _xlsx_rows(body: bytes) -> list[dict[str, Any]]:
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(body), read_only=True, data_only=True)
    sheet = book.worksheets[0]
    it = sheet.iter_rows(values_only=True)
    header = [str(h).strip() if h is not None else None for h in next(it, ())]
    rows = [
        _tabular_row(dict(zip(header, values, strict=False)))
        for values in it
        if any(v is not None and str(v).strip() for v in values)
    ]
    book.close()
    return rows


async def parse_rows(body: bytes, content_type: str) -> list[Any]:
    """Rows from a JSON list (or ``{"rows": [...]}``), a CSV with a header line, or an .xlsx sheet."""
    kind = content_type.split(";")[0].strip().lower()
    try:
        if kind in ("text/csv", "application/csv"):
            return [_tabular_row(r) for r in csv.DictReader(io.StringIO(body.decode("utf-8-sig")))]
        if kind == XLSX_TYPE:
            return await asyncio.to_thread(_xlsx_rows, body)
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, csv.Error, ValueError, KeyError, OSError) as exc:
        raise InvalidInput(
            "The import body could not be read",
            errors=[field_error(["body"], f"unreadable {kind or 'body'}: {type(exc).__name__}")],
        ) from exc
    if isinstance(data, dict) and isinstance(data.get("rows"), list):
        data = data["rows"]
    if not isinstance(data, list):
        raise InvalidInput("Expected a list of rows", errors=[field_error(["body"], "expected a JSON list of rows")])
    return data


def validate_rows(raw_rows: list[Any], classification: str) -> tuple[list[tuple[int, ImportRow]], list[dict[str, Any]]]:
    """Valid rows with their index, and one error per bad field of each bad row (``loc`` = [index, field])."""
    good: list[tuple[int, ImportRow]] = []
    errors: list[dict[str, Any]] = []
    seen: dict[tuple[str, str], int] = {}
    aliased: dict[tuple[str, str], int] = {}
    for index, raw in enumerate(raw_rows):
        try:
            row = ImportRow.model_validate(raw)
        except ValidationError as exc:
            errors.extend(
                field_error([index, *[p for p in e["loc"] if isinstance(p, str | int)]], e["msg"]) for e in exc.errors()
            )
            continue
        key = (row.classification or classification, row.code)
        if key in seen:
            errors.append(field_error([index, "code"], f"duplicate of row {seen[key]}"))
            continue
        if row.former_classification == key[0] and row.former_codes:
            errors.append(field_error([index, "former_classification"], "must differ from the row's classification"))
            continue
        # One statement upserts every alias: an old code claimed twice would make it fail (500).
        row.former_codes = list(dict.fromkeys(row.former_codes))
        claimed = [c for c in row.former_codes if (row.former_classification, c) in aliased]
        if claimed:
            first = aliased[row.former_classification, claimed[0]]
            errors.append(field_error([index, "former_codes"], f"{claimed[0]} is already a former code of row {first}"))
            continue
        aliased.update({(row.former_classification, c): index for c in row.former_codes})
        seen[key] = index
        good.append((index, row))
    return good, errors


_UPSERT_OCCUPATIONS = text(f"""
INSERT INTO {SCHEMA}.occupations AS o (classification, code, name, major, middle, minor, introduced_on)
SELECT * FROM unnest(CAST(:cls AS varchar[]), CAST(:codes AS varchar[]), CAST(:names AS varchar[]),
                     CAST(:majors AS varchar[]), CAST(:middles AS varchar[]), CAST(:minors AS varchar[]),
                     CAST(:introduced AS date[]))
ON CONFLICT (classification, code) DO UPDATE SET name = excluded.name, introduced_on = excluded.introduced_on
WHERE (o.name, o.introduced_on) IS DISTINCT FROM (excluded.name, excluded.introduced_on)
RETURNING o.classification, o.code, (xmax = 0) AS created""")
_INSERT_WORK_TYPES = text(f"""
INSERT INTO {SCHEMA}.work_types (classification, occupation_code, name)
SELECT * FROM unnest(CAST(:cls AS varchar[]), CAST(:codes AS varchar[]), CAST(:names AS varchar[]))
ON CONFLICT DO NOTHING RETURNING classification, occupation_code""")
_UPSERT_ALIASES = text(f"""
INSERT INTO {SCHEMA}.occupation_aliases AS a (old_classification, old_code, classification, code)
SELECT * FROM unnest(CAST(:old_cls AS varchar[]), CAST(:old_codes AS varchar[]), CAST(:cls AS varchar[]),
                     CAST(:codes AS varchar[]))
ON CONFLICT (old_classification, old_code)
DO UPDATE SET classification = excluded.classification, code = excluded.code
WHERE (a.classification, a.code) IS DISTINCT FROM (excluded.classification, excluded.code)
RETURNING a.classification, a.code""")
_UPSERT_GROUPS = text(f"""
INSERT INTO {SCHEMA}.occupation_groups AS g (classification, code, name)
SELECT * FROM unnest(CAST(:cls AS varchar[]), CAST(:codes AS varchar[]), CAST(:names AS varchar[]))
ON CONFLICT (classification, code) DO UPDATE SET name = excluded.name WHERE g.name <> excluded.name""")


async def _write(session: AsyncSession, rows: list[ImportRow], classification: str) -> tuple[set[Any], set[Any]]:
    cls = [r.classification or classification for r in rows]
    groups = [(c, r.code, r) for c, r in zip(cls, rows, strict=True)]
    upserted = (
        await run(
            session,
            _UPSERT_OCCUPATIONS,
            {
                "cls": cls,
                "codes": [r.code for r in rows],
                "names": [r.name for r in rows],
                "majors": [group_codes(r.code)[0] for r in rows],
                "middles": [group_codes(r.code)[1] for r in rows],
                "minors": [group_codes(r.code)[2] for r in rows],
                "introduced": [r.introduced_on for r in rows],
            },
        )
    ).all()
    created = {(u.classification, u.code) for u in upserted if u.created}
    touched = {(u.classification, u.code) for u in upserted if not u.created}
    wt = [(c, code, name) for c, code, r in groups for name in r.work_types]
    if wt:
        touched |= {
            tuple(x)
            for x in (
                await run(
                    session,
                    _INSERT_WORK_TYPES,
                    {"cls": [w[0] for w in wt], "codes": [w[1] for w in wt], "names": [w[2] for w in wt]},
                )
            ).all()
        }
    al = [(r.former_classification, old, c, code) for c, code, r in groups for old in r.former_codes]
    if al:
        touched |= {
            tuple(x)
            for x in (
                await run(
                    session,
                    _UPSERT_ALIASES,
                    {
                        "old_cls": [a[0] for a in al],
                        "old_codes": [a[1] for a in al],
                        "cls": [a[2] for a in al],
                        "codes": [a[3] for a in al],
                    },
                )
            ).all()
        }
    names = {
        (c, g): n
        for c, code, r in groups
        for g, n in zip(group_codes(code), (r.major_name, r.middle_name, r.minor_name), strict=True)
        if n
    }
    if names:
        await run(
            session,
            _UPSERT_GROUPS,
            {"cls": [k[0] for k in names], "codes": [k[1] for k in names], "names": list(names.values())},
        )
    return created, touched - created


async def import_occupations(
    session: AsyncSession, *, raw_rows: list[Any], classification: str, max_rows: int, actor: str
) -> ImportResult:
    """Upserts the valid rows and reports each bad one; announces each created or changed occupation."""
    if len(raw_rows) > max_rows:
        raise PayloadTooLarge(f"at most {max_rows} rows per import, got {len(raw_rows)}")
    good, errors = validate_rows(raw_rows, classification)
    created: set[Any] = set()
    updated: set[Any] = set()
    if good:
        created, updated = await _write(session, [r for _, r in good], classification)
    events = [
        ("catalogue.occupation.created", f"{c}/{code}", {"classification": c, "code": code})
        for c, code in sorted(created)
    ]
    events += [
        ("catalogue.occupation.updated", f"{c}/{code}", {"classification": c, "code": code})
        for c, code in sorted(updated)
    ]
    rejected = len({e["loc"][0] for e in errors})
    result = ImportResult(
        received=len(raw_rows),
        created=len(created),
        updated=len(updated),
        unchanged=len(good) - len(created) - len(updated),
        rejected=rejected,
        errors=errors,
    )
    if events:
        events.append(
            (
                "catalogue.classification.imported",
                classification,
                {**result.model_dump(exclude={"errors"}), "by": actor},
            )
        )
        await emit_events(session, events)
    await session.commit()
    return result
