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
