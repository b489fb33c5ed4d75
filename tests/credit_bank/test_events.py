"""Credit_bank's conversion event data: one model each that credit_bank writes and statistics parses."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from pydantic import ValidationError

from services.credit_bank.events import ConversionFacts, ConversionPosted, ConversionReversed

IDS = [uuid.UUID(int=n) for n in range(1, 6)]
POSTED = ConversionPosted(
    conversion_id=IDS[0],
    learner_id="lrn_1",
    outcome_id=IDS[1],
    programme_id=IDS[2],
    rule_id=IDS[3],
    credits=Decimal("4.0"),
    course_codes=["C101"],
    ledger_entry_id=7,
    replaced_conversion_ids=[IDS[4]],
    university_org="univ-a",
    occupation_code="6-25-02-05",
    level=4,
)
REVERSED = ConversionReversed(
    conversion_id=IDS[0],
    learner_id="lrn_1",
    outcome_id=IDS[1],
    programme_id=IDS[2],
    university_org="univ-a",
    credits=Decimal("4.0"),
    ledger_entry_id=8,
    reason="certificate revoked",
)


def test_the_data_is_the_json_the_feed_always_carried():
    assert POSTED.model_dump(mode="json") == {
        "conversion_id": str(IDS[0]),
        "learner_id": "lrn_1",
        "outcome_id": str(IDS[1]),
        "programme_id": str(IDS[2]),
        "rule_id": str(IDS[3]),
        "credits": "4.0",
        "course_codes": ["C101"],
        "ledger_entry_id": 7,
        "replaced_conversion_ids": [str(IDS[4])],
        "university_org": "univ-a",
        "occupation_code": "6-25-02-05",
        "level": 4,
    }
    assert REVERSED.model_dump(mode="json") == {
        "conversion_id": str(IDS[0]),
        "learner_id": "lrn_1",
        "outcome_id": str(IDS[1]),
        "programme_id": str(IDS[2]),
        "university_org": "univ-a",
        "credits": "4.0",  # str(Decimal), as the hand-built dict wrote it
        "ledger_entry_id": 8,
        "reason": "certificate revoked",
    }


def test_consumers_parse_both_events():
    posted = ConversionFacts.model_validate(POSTED.model_dump(mode="json"))
    assert (posted.conversion_id, posted.credits, posted.level) == (str(IDS[0]), Decimal("4.0"), 4)
    reversed_ = ConversionFacts.model_validate(REVERSED.model_dump(mode="json"))
    assert (reversed_.conversion_id, reversed_.occupation_code) == (str(IDS[0]), None)
    assert ConversionFacts.model_validate({"conversion_id": "c"}).credits == Decimal(0)
    with pytest.raises(ValidationError):
        ConversionFacts.model_validate({"credits": "1"})
