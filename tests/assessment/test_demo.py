"""The demo loader: valid data, and a second run creates nothing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from stdnum.cn import ric

from services.assessment.demo import _id_number, load_demo
from tests.support.fixtures import TEST_SECRET, rolled_back


async def test_demo_is_valid_and_idempotent(test_db: Any) -> None:
    assert all(ric.is_valid(_id_number(n)) for n in range(0, 2000, 7))
    async with rolled_back(test_db.engine("assessment")) as maker:
        async with maker() as session:
            first = await load_demo(session, learner_key=TEST_SECRET, pii_key=TEST_SECRET)
        async with maker() as session:
            second = await load_demo(session, learner_key=TEST_SECRET, pii_key=TEST_SECRET)
            numbers = (
                await session.execute(
                    text(
                        "SELECT c.number, b.kind FROM assessment.certificates c "
                        "JOIN assessment.bodies b ON b.id = c.body_id "
                        "WHERE c.university_org LIKE 'demo-univ-%'"
                    )
                )
            ).all()
    assert first["bodies"] == 3
    assert first["filings"] == 3
    assert first["records"] == 300
    assert 100 < first["certificates"] < 300
    assert second == {"bodies": 0, "filings": 0, "records": 0, "certificates": 0}
    assert len(numbers) == first["certificates"]
    assert all(len(n) == 22 and n.startswith("Y000031") for n, _ in numbers)
