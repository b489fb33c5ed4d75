"""Demo data for ``make run``: programmes of the demo universities, graded conversion rules from the
RULE DEFAULTS (data/demo_rules.json), and some demo students' certificates deposited and converted.

The certificates come from the assessment demo (``skillpass.seed`` reads them with assessment's own
role and hands them over): the credit bank never reads another schema. Idempotent: safe on every start.
"""

from __future__ import annotations

import json
import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.kit.auth import Principal
from services.kit.problems import Problem

from .clients import CertificateFacts
from .conversions import convert
from .models import ConversionRule, Programme
from .outcomes import store_certificate
from .schemas import ConversionCreate

DEMO_RULES = Path(__file__).resolve().parent / "data" / "demo_rules.json"
# How many of each demo university's students get their certificate converted.
CONVERTED_PER_UNIVERSITY = 25


async def _programme(session: AsyncSession, spec: dict[str, Any]) -> tuple[Programme, bool]:
    found = (
        await session.exec(
            select(Programme).where(Programme.university_org == spec["university_org"], Programme.code == spec["code"])
        )
    ).first()
    if found is not None:
        return found, False
    programme = Programme(
        university_org=spec["university_org"],
        code=spec["code"],
        name=spec["name"],
        graduation_credits=Decimal(spec["graduation_credits"]),
        max_converted_ratio=Decimal("0.5"),
    )
    session.add(programme)
    await session.flush()
    return programme, True


async def _rules(session: AsyncSession, programme: Programme, spec: dict[str, Any], data: dict[str, Any]) -> int:
    have = {
        (r.occupation_code, r.min_level)
        for r in (await session.exec(select(ConversionRule).where(ConversionRule.programme_id == programme.id))).all()
    }
    made = 0
    for code, courses in spec["occupations"].items():
        for grade in data["grades"]:
            if (code, grade["min_level"]) in have:
                continue
            kinds = ("foundation", "core") if grade["courses"] == "both" else (grade["courses"],)
            session.add(
                ConversionRule(
                    programme_id=programme.id,
                    university_org=programme.university_org,
                    occupation_code=code,
                    min_level=grade["min_level"],
                    credits=Decimal(grade["credits"]),
                    course_codes=[c for k in kinds for c in courses[k]],
                    valid_from=date.fromisoformat(data["valid_from"]),
                    source=data["source"][:200],
                )
            )
            made += 1
    return made


def _facts(row: dict[str, Any]) -> CertificateFacts:
    return CertificateFacts(
        number=row["number"],
        learner_id=row["learner_id"],
        occupation_code=row["occupation_code"],
        level=int(row["level"]),
        issued_on=row["issued_on"],
        status=row["status"],
        status_reason=row.get("status_reason"),
    )


async def load_demo(session: AsyncSession, *, certificates: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Creates what is missing; ``certificates`` are assessment's demo certificates (valid ones)."""
    data = json.loads(DEMO_RULES.read_text(encoding="utf-8"))
    counts: dict[str, Any] = {"programmes": 0, "rules": 0, "outcomes": 0, "conversions": 0}
    # Plain ids: a rolled-back conversion expires every ORM object of the session.
    by_org: dict[str, list[tuple[uuid.UUID, set[str]]]] = {}
    for spec in data["programmes"]:
        programme, new = await _programme(session, spec)
        counts["programmes"] += new
        counts["rules"] += await _rules(session, programme, spec, data)
        by_org.setdefault(spec["university_org"], []).append((programme.id, set(spec["occupations"])))
    await session.commit()
    done: dict[str, int] = {}
    for row in certificates or []:
        org = row.get("university_org")
        if row.get("status") != "valid" or org not in by_org or done.get(org, 0) >= CONVERTED_PER_UNIVERSITY:
            continue
        done[org] = done.get(org, 0) + 1
        principal = Principal(sub="demo-seed", role="university", org=org)
        outcome, created = await store_certificate(session, principal=principal, facts=_facts(row))
        counts["outcomes"] += created
        outcome_id, learner_id = outcome.outcome_id, outcome.learner_id
        await session.commit()
        for programme_id, occupations in by_org[org]:
            if row["occupation_code"] not in occupations:
                continue
            try:
                await convert(
                    session,
                    principal=principal,
                    data=ConversionCreate(learner_id=learner_id, outcome_id=outcome_id, programme_id=programme_id),
                    idempotency_key=None,
                )
                counts["conversions"] += 1
                counts.setdefault("example_learner_id", learner_id)
            except Problem:  # converted on an earlier start, or a level below every rule
                await session.rollback()
    return counts
