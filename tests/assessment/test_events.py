"""The certificate event data: one model that assessment writes and its consumers parse."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from pydantic import ValidationError

from services.assessment.events import (
    BodyFacts,
    CertificateEvent,
    CertificateFacts,
    CertificateRecord,
    CertificateStatusChanged,
)
from services.assessment.schemas import BodyRead

BODY = uuid.UUID("0b7a4a4e-8a51-4d43-9a55-2d1e6f0a1c11")
ISSUED = CertificateEvent(
    number="Y000031000001262600001",
    learner_id="lrn_1",
    occupation_code="6-31-07-01",
    occupation_name="工业机器人系统运维员",
    work_type=None,
    level=4,
    body_id=BODY,
    university_org="univ-a",
    issued_on=date(2026, 9, 10),
    in_catalogue_on_issue=True,
    edition_id=None,
    status="valid",
    holder_name_masked="欧***",
)


def test_issued_data_is_the_json_the_feed_always_carried():
    assert ISSUED.model_dump(mode="json") == {
        "number": "Y000031000001262600001",
        "learner_id": "lrn_1",
        "occupation_code": "6-31-07-01",
        "occupation_name": "工业机器人系统运维员",
        "work_type": None,
        "level": 4,
        "body_id": str(BODY),
        "university_org": "univ-a",
        "issued_on": "2026-09-10",
        "in_catalogue_on_issue": True,
        "edition_id": None,
        "status": "valid",
        "holder_name_masked": "欧***",
        "graduation_year": None,
        "school_org": None,
    }


def test_graduation_year_and_school_are_additive_and_read_by_consumers():
    issued = CertificateEvent(**{**ISSUED.model_dump(), "graduation_year": 2027, "school_org": "univ-a"})
    record = CertificateRecord.model_validate(issued.model_dump(mode="json"))
    assert (record.graduation_year, record.school_org) == (2027, "univ-a")
    old = {k: v for k, v in ISSUED.model_dump(mode="json").items() if k not in ("graduation_year", "school_org")}
    assert CertificateRecord.model_validate(old).graduation_year is None


def test_a_status_change_adds_the_reason():
    revoked = CertificateStatusChanged(**{**ISSUED.model_dump(), "status": "revoked", "reason": "舞弊"})
    assert revoked.model_dump(mode="json") == {**ISSUED.model_dump(mode="json"), "status": "revoked", "reason": "舞弊"}


def test_consumers_read_the_facts_of_any_certificate_event():
    facts = CertificateFacts.model_validate({**ISSUED.model_dump(mode="json"), "reason": "x", "future_field": 1})
    assert (facts.occupation_code, facts.level, facts.issued_on) == ("6-31-07-01", 4, date(2026, 9, 10))
    assert CertificateFacts.model_validate({"occupation_code": "x"}).model_dump() == {
        "occupation_code": "x",
        "level": 0,
        "issued_on": None,
    }
    with pytest.raises(ValidationError):
        CertificateFacts.model_validate({"level": 3})


def test_the_producer_cannot_leave_out_a_field_or_write_a_wrong_level():
    data = ISSUED.model_dump()
    del data["holder_name_masked"]
    with pytest.raises(ValidationError, match="holder_name_masked"):
        CertificateEvent(**data)
    with pytest.raises(ValidationError, match="level"):
        CertificateEvent(**{**ISSUED.model_dump(), "level": 0})


def test_readers_keeping_a_copy_parse_every_certificate_event():
    revoked = CertificateStatusChanged(**{**ISSUED.model_dump(), "status": "revoked", "reason": "舞弊"})
    record = CertificateRecord.model_validate(revoked.model_dump(mode="json"))
    assert record.model_dump() == {
        "number": "Y000031000001262600001",
        "learner_id": "lrn_1",
        "occupation_code": "6-31-07-01",
        "occupation_name": "工业机器人系统运维员",
        "level": 4,
        "body_id": str(BODY),
        "university_org": "univ-a",
        "issued_on": date(2026, 9, 10),
        "in_catalogue_on_issue": True,
        "status": "revoked",
        "reason": "舞弊",
        "graduation_year": None,
        "school_org": None,
    }
    assert CertificateRecord.model_validate({"number": "Y1"}).learner_id is None
    with pytest.raises(ValidationError):
        CertificateRecord.model_validate({"level": 3})


def test_readers_parse_the_body_event():
    body = BodyRead(
        id=BODY,
        sequence=1,
        name="某公司",
        uscc="91310000MA1FL0000X",
        kind="employer",
        university_org=None,
        district="闵行区",
    )
    facts = BodyFacts.model_validate(body.model_dump(mode="json"))
    assert facts.model_dump() == {"id": str(BODY), "kind": "employer", "district": "闵行区", "university_org": None}
    assert BodyFacts.model_validate({"id": "b"}).model_dump() == {
        "id": "b",
        "kind": "unknown",
        "district": "unknown",
        "university_org": None,
    }
