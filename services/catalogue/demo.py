"""Demo data: real 2022 occupation codes (DOMAIN.md §4), the "3+6" + livelihood taxonomy, an
alias, a 2024 and a 2026 demo edition, and 2026-Q3 signals. Idempotent: safe on every ``make run``.

The editions' entries are invented for the demo (the real ones are not public); the codes and
names are the classification's own.
"""

from __future__ import annotations

import csv
import json
import uuid
from datetime import date
from pathlib import Path
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from . import editions, importer, industries, signals
from .events import EDITION_CREATED, EditionCreated
from .models import Edition, EditionEntry
from .schemas import IndustryTaxonomyCreate
from .schemas_adjust import SignalIn
from .sql import emit_event

DATA = Path(__file__).parent / "data"
ACTOR = "demo-loader"
DEMO_NAMESPACE = uuid.UUID("6f1c5d1e-3b0a-4c47-9d55-2f1a2b7e0c01")


def demo_edition_id(key: str) -> uuid.UUID:
    return uuid.uuid5(DEMO_NAMESPACE, key)


def occupation_rows(spec: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    """Import rows from the shipped CSV, and each code's industry tags."""
    aliases: dict[str, list[str]] = {}
    for a in spec["aliases"]:
        aliases.setdefault(a["code"], []).append(a["old_code"])
    rows, tags = [], {}
    with (DATA / "demo_occupations.csv").open(encoding="utf-8") as f:
        for r in csv.DictReader(f):
            row: dict[str, Any] = {
                "code": r["code"],
                "name": r["name"],
                "major_name": spec["major_groups"][r["code"][0]],
            }
            if r["introduced_on"]:
                row["introduced_on"] = r["introduced_on"]
            if r["code"] in aliases:
                row["former_codes"] = aliases[r["code"]]
            rows.append(row)
            tags[r["code"]] = r["industries"].split(";")
    return rows, tags


async def _load_taxonomy(session: AsyncSession, spec: dict[str, Any]) -> int:
    body = IndustryTaxonomyCreate.model_validate(spec["taxonomy"])
    try:
        await industries.get_taxonomy(session, version=body.version)
        return 0
    except industries.TaxonomyNotFound:
        await industries.publish_taxonomy(session, body=body, actor=ACTOR)
        return 1


async def _load_edition(
    session: AsyncSession, spec: dict[str, Any], tags: dict[str, list[str]], industry_version: str
) -> int:
    edition_id = demo_edition_id(spec["key"])
    if await session.get(Edition, edition_id) is not None:
        return 0
    based_on = demo_edition_id(spec["based_on"]) if spec.get("based_on") else None
    session.add(
        Edition(
            id=edition_id,
            title=spec["title"],
            industry_version=industry_version,
            based_on=based_on,
            created_by=ACTOR,
        )
    )
    await session.flush()
    session.add_all(
        [
            EditionEntry(
                edition_id=edition_id,
                occupation_code=code,
                min_level=min_level,
                industries=tags[code],
                shortage_level=shortage,
                review_by=date.fromisoformat(review) if review else None,
                reason=reason,
            )
            for code, min_level, shortage, review, reason in spec["entries"]
        ]
    )
    await session.flush()
    await emit_event(
        session,
        EDITION_CREATED,
        str(edition_id),
        EditionCreated(
            edition_id=str(edition_id),
            title=spec["title"],
            entry_count=len(spec["entries"]),
            based_on=str(based_on) if based_on else None,
            by=ACTOR,
        ).model_dump(mode="json"),
    )
    await session.commit()
    await editions.publish_edition(
        session, edition_id=edition_id, effective_from=date.fromisoformat(spec["effective_from"]), actor=ACTOR
    )
    return 1


async def load_demo(session: AsyncSession) -> dict[str, int]:
    """Loads what is missing and leaves the rest alone; answers what it created."""
    spec = json.loads((DATA / "demo_catalogue.json").read_text(encoding="utf-8"))
    rows, tags = occupation_rows(spec)
    imported = await importer.import_occupations(
        session, raw_rows=rows, classification="2022", max_rows=len(rows), actor=ACTOR
    )
    if imported.rejected:
        raise ValueError(f"demo occupations rejected: {imported.errors}")
    taxonomies = await _load_taxonomy(session, spec)
    version = spec["taxonomy"]["version"]
    created = 0
    for edition_spec in spec["editions"]:
        created += await _load_edition(session, edition_spec, tags, version)
    cols = spec["signals"]["columns"]
    observations = [
        SignalIn.model_validate({**dict(zip(cols, r, strict=True)), "period": spec["signals"]["period"]})
        for r in spec["signals"]["rows"]
    ]
    recorded = await signals.record_signals(session, rows=observations, classification="2022", actor=ACTOR)
    return {
        "occupations": len(rows),
        "occupations_created": imported.created,
        "occupations_updated": imported.updated,
        "industry_taxonomies_created": taxonomies,
        "editions_created": created,
        "signals_created": recorded.created,
        "signals_updated": recorded.updated,
    }
