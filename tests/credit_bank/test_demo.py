"""The demo loader: graded rules from the RULE DEFAULTS, converted credits for some demo students."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import text

from services.assessment.demo import load_demo as load_assessment_demo
from services.credit_bank.demo import CONVERTED_PER_UNIVERSITY, load_demo
from tests.support.fixtures import TEST_SECRET, rolled_back

CERTIFICATES = (
    "SELECT number, learner_id, occupation_code, level, issued_on, status, status_reason, university_org "
    "FROM assessment.certificates WHERE status = 'valid' ORDER BY number"
)


async def test_demo_converts_credits_and_is_idempotent(test_db: Any) -> None:
    async with rolled_back(test_db.engine("assessment")) as maker, maker() as session:
        await load_assessment_demo(session, learner_key=TEST_SECRET, pii_key=TEST_SECRET)
        certificates = [dict(r._mapping) for r in await session.execute(text(CERTIFICATES))]
    async with rolled_back(test_db.engine("credit_bank")) as maker:
        async with maker() as session:
            first = await load_demo(session, certificates=certificates)
        async with maker() as session:
            second = await load_demo(session, certificates=certificates)
            rules = (
                await session.execute(
                    text(
                        "SELECT min_level, credits, course_codes FROM credit_bank.conversion_rules "
                        "WHERE occupation_code = '2-02-38-01' AND university_org = 'demo-univ-a'"
                    )
                )
            ).all()
            balances = (
                await session.execute(
                    text("SELECT learner_id, sum(credits) FROM credit_bank.ledger_entries GROUP BY learner_id")
                )
            ).all()
    assert (first["programmes"], first["rules"]) == (3, 30)
    assert first["outcomes"] == 2 * CONVERTED_PER_UNIVERSITY
    assert first["conversions"] > 20
    assert second["programmes"] == second["rules"] == second["outcomes"] == second["conversions"] == 0
    # RULE DEFAULTS: ≤ 8 credits; level 5 → foundation, 4 → core, 3+ → both.
    assert sorted((lv, c, courses) for lv, c, courses in rules) == [
        (3, Decimal("8.0"), ["AI101", "AI301"]),
        (4, Decimal("4.0"), ["AI301"]),
        (5, Decimal("2.0"), ["AI101"]),
    ]
    assert sum(1 for _, total in balances if total > 0) > 10
