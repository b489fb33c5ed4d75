"""The statistics service parses each producer's event model: what the producers write lands as intended."""

from __future__ import annotations

import uuid
from datetime import date

from services.incentives.events import EvaluationRecorded
from services.statistics.apply import HANDLERS, Writes


def _params(writes: Writes) -> list[dict[str, object]]:
    return [row for rows in writes.batches.values() for row in rows]


def test_an_evaluation_carries_threshold_and_skill_points_into_the_read_model():
    data = EvaluationRecorded(
        id="ev-1",
        learner_id="lrn_1",
        scheme="settlement_points",
        ruleset_id=uuid.uuid4(),
        as_of=date(2026, 6, 30),
        total=74,
        threshold=72,
        skill_points=5,
        passes=True,
        rerun_of=None,
    ).model_dump(mode="json")
    event = {"id": 9, "type": "incentives.evaluation.recorded", "occurred_at": "2026-06-30T02:00:00Z", "data": data}
    writes = Writes()
    HANDLERS["incentives"]["incentives.evaluation.recorded"](writes, event)
    (row,) = _params(writes)
    assert row == {
        "evaluation_id": "ev-1",
        "learner_id": "lrn_1",
        "scheme": "settlement_points",
        "total": 74,
        "threshold": 72,
        "skill_points": 5,
        "passes": True,
        "evaluated_on": date(2026, 6, 30),
        "event_id": 9,
    }


def test_an_evaluation_recorded_before_the_fields_existed_is_unknown_not_zero():
    event = {
        "id": 10,
        "type": "incentives.evaluation.recorded",
        "occurred_at": "2026-06-30T02:00:00Z",
        "data": {"id": "ev-0", "learner_id": "lrn_1", "scheme": "settlement_points", "total": 75, "passes": True},
    }
    writes = Writes()
    HANDLERS["incentives"]["incentives.evaluation.recorded"](writes, event)
    (row,) = _params(writes)
    assert (row["threshold"], row["skill_points"], row["total"]) == (None, None, 75)


def test_a_payment_lands_on_the_day_it_was_paid_not_the_day_it_was_recorded():
    from decimal import Decimal

    from services.incentives.events import ClaimPaid

    claim_id = uuid.uuid4()
    data = ClaimPaid(
        claim_id=claim_id,
        learner_id="lrn_1",
        certificate_number="Y000031000123263000001",
        occupation_code="6-25-02-05",
        level=4,
        issued_on=date(2026, 11, 10),
        claimed_on=date(2026, 11, 12),
        status="approved",
        amount=Decimal("1800.00"),
        in_catalogue=True,
        edition_id="ed-1",
        reasons=[],
        recovery_due=False,
        ruleset_id=uuid.uuid4(),
        amount_paid=Decimal("1800.00"),
        paid_on=date(2026, 11, 30),
    ).model_dump(mode="json")
    event = {"id": 12, "type": "incentives.subsidy_claim.paid", "occurred_at": "2026-12-03T02:00:00Z", "data": data}
    writes = Writes()
    HANDLERS["incentives"]["incentives.subsidy_claim.paid"](writes, event)
    status = next(row for row in _params(writes) if "paid_on" in row)
    assert (status["claim_id"], status["status"], status["paid_on"], status["event_id"]) == (
        str(claim_id),
        "paid",
        date(2026, 11, 30),
        12,
    )
    assert status["amount"] == Decimal("1800.00")
