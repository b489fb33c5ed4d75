"""Incentives' event data: one model each that incentives writes and the statistics service parses."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import pytest
from pydantic import ValidationError

from services.incentives.events import ClaimEvent, ClaimFacts, EvaluationFacts, EvaluationRecorded

from .test_points import DECLARED

RULESET = uuid.UUID("5f1c2b8e-3b0a-4d7e-9a6b-1f2e3d4c5b6a")
EVALUATION = EvaluationRecorded(
    id="0d9c3a51-7c2e-4f0a-8f3e-2b1a0c9d8e7f",
    learner_id="lrn_a",
    scheme="settlement_points",
    ruleset_id=RULESET,
    as_of=date(2026, 6, 30),
    total=54,
    threshold=72,
    skill_points=5,
    passes=False,
    rerun_of=None,
)
CLAIM = ClaimEvent(
    claim_id=uuid.UUID("8a7b6c5d-4e3f-4a1b-9c8d-7e6f5a4b3c2d"),
    learner_id="lrn_a",
    certificate_number="Y000031000123263000001",
    occupation_code="6-25-02-05",
    level=4,
    issued_on=date(2026, 5, 10),
    claimed_on=date(2026, 11, 21),
    status="pending",
    amount=Decimal("1800.00"),
    in_catalogue=True,
    edition_id="ed-2024",
    reasons=[],
    recovery_due=False,
    ruleset_id=RULESET,
)


def test_evaluation_data_is_the_json_the_feed_carried_plus_threshold_and_skill_points():
    assert EVALUATION.model_dump(mode="json") == {
        "id": "0d9c3a51-7c2e-4f0a-8f3e-2b1a0c9d8e7f",
        "learner_id": "lrn_a",
        "scheme": "settlement_points",
        "ruleset_id": str(RULESET),
        "as_of": "2026-06-30",
        "total": 54,
        "passes": False,
        "rerun_of": None,
        # added for the statistics service ("passed because of the skill item")
        "threshold": 72,
        "skill_points": 5,
    }


def test_claim_data_is_the_json_the_feed_always_carried():
    assert CLAIM.model_dump(mode="json") == {
        "claim_id": "8a7b6c5d-4e3f-4a1b-9c8d-7e6f5a4b3c2d",
        "learner_id": "lrn_a",
        "certificate_number": "Y000031000123263000001",
        "occupation_code": "6-25-02-05",
        "level": 4,
        "issued_on": "2026-05-10",
        "claimed_on": "2026-11-21",
        "status": "pending",
        "amount": "1800.00",
        "in_catalogue": True,
        "edition_id": "ed-2024",
        "reasons": [],
        "recovery_due": False,
        "ruleset_id": str(RULESET),
        "decided_at": None,
        "decision_reason": None,
    }


def test_consumers_parse_every_event_and_tolerate_old_ones():
    facts = EvaluationFacts.model_validate({**EVALUATION.model_dump(mode="json"), "future_field": 1})
    assert (facts.total, facts.threshold, facts.skill_points, facts.passes) == (54, 72, 5, False)
    old = EvaluationFacts.model_validate({"id": "e4", "learner_id": "l", "scheme": "s", "total": 75, "passes": True})
    assert (old.threshold, old.skill_points) == (None, None)
    claim = ClaimFacts.model_validate(CLAIM.model_dump(mode="json"))
    assert (claim.claim_id, claim.amount, claim.claimed_on) == (
        str(CLAIM.claim_id),
        Decimal("1800.00"),
        date(2026, 11, 21),
    )
    with pytest.raises(ValidationError):
        ClaimFacts.model_validate({"status": "pending"})


async def test_the_recorded_evaluation_carries_threshold_and_skill_points(loaded, tokens, assessment):
    assessment.add("Y000031000123263000001", "lrn_a", level=3, issued_on="2026-05-10")
    r = await loaded.post(
        "/v1/points/evaluate",
        json={"learner_id": "lrn_a", "as_of": "2026-06-30", "declared": DECLARED},
        headers=tokens.headers("student", sub="lrn_a"),
    )
    assert r.status_code == 200, r.text
    feed = (await loaded.get("/v1/events", params={"limit": 1000}, headers=tokens.headers("platform"))).json()
    (data,) = [e["data"] for e in feed["events"] if e["type"] == "incentives.evaluation.recorded"]
    assert data == EvaluationRecorded.model_validate(data).model_dump(mode="json")
    assert (data["id"], data["total"], data["threshold"], data["skill_points"]) == (r.json()["id"], 54, 72, 5)
    # without certificates the skill item does not fire: 0 points, not unknown
    r = await loaded.post(
        "/v1/points/evaluate",
        json={"learner_id": "lrn_b", "as_of": "2026-06-30", "declared": DECLARED},
        headers=tokens.headers("student", sub="lrn_b"),
    )
    feed = (await loaded.get("/v1/events", params={"limit": 1000}, headers=tokens.headers("platform"))).json()
    last = [e["data"] for e in feed["events"] if e["type"] == "incentives.evaluation.recorded"][-1]
    assert (last["id"], last["total"], last["skill_points"]) == (r.json()["id"], 49, 0)
