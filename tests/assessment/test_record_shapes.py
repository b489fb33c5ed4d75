"""A batch's records are checked by slotted pydantic dataclasses since issue 15 (B4, memory): the
same records must give the same values and the same errors (type, message, loc, order) as the
BaseModels they replaced, which are kept here as the reference."""

from __future__ import annotations

import copy
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel, Field, TypeAdapter, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from services.assessment.batch_input import check_shapes
from services.assessment.id_numbers import is_valid_id_number
from services.assessment.schemas import Level, OccupationCode, Org, RecordIn, Score
from services.kit.pii import normalise_id_number

from .asm_support import make_id_number, record


class Before:
    """The BaseModels as they were (same class names: errors name the class)."""

    class CandidateIn(BaseModel):
        id_number: str = Field(description="resident ID number (GB 11643); stored encrypted")
        name: str = Field(min_length=1, max_length=100)
        student_no: str = Field(min_length=1, max_length=50)
        school_org: Org
        graduation_year: int = Field(ge=2000, le=2100)
        major: str = Field(min_length=1, max_length=100)

        @field_validator("id_number")
        @classmethod
        def _check_id_number(cls, value: str) -> str:
            value = normalise_id_number(value)
            if not is_valid_id_number(value):
                raise PydanticCustomError(
                    "invalid_id_number", "not a valid resident ID number (GB 11643 check digit or birth date)"
                )
            return value

        @field_validator("name")
        @classmethod
        def _strip_name(cls, value: str) -> str:
            return value.strip()

    class RecordIn(BaseModel):
        external_id: str = Field(min_length=1, max_length=100)
        candidate: Before.CandidateIn
        occupation_code: OccupationCode
        work_type: str | None = Field(default=None, max_length=100)
        level: Level
        exam_date: date
        theory_score: Score
        practical_score: Score
        review_score: Score | None = None


BEFORE = TypeAdapter(list[Before.RecordIn])


def _before(records: list[Any]) -> tuple[dict[int, Any], dict[int, list[dict[str, Any]]]]:
    """check_shapes as it answered with the BaseModels (all rows' errors, grouped by row)."""
    try:
        return dict(enumerate(BEFORE.validate_python(records))), {}
    except ValidationError as exc:
        errors: dict[int, list[dict[str, Any]]] = {}
        for e in exc.errors(include_url=False, include_input=False, include_context=False):
            loc = list(e["loc"])
            errors.setdefault(int(loc[0]), []).append({"loc": loc, "msg": e["msg"], "type": e["type"]})
    good = {i: Before.RecordIn.model_validate(r) for i, r in enumerate(records) if i not in errors}
    return good, errors


def _values(rec: Any) -> tuple[Any, ...]:
    c = rec.candidate
    return (
        rec.external_id,
        rec.occupation_code,
        rec.work_type,
        rec.level,
        rec.exam_date,
        rec.theory_score,
        rec.practical_score,
        rec.review_score,
        c.id_number,
        c.name,
        c.student_no,
        c.school_org,
        c.graduation_year,
        c.major,
    )


def _changed(**changes: Any) -> dict[str, Any]:
    r = record("x-1", id_number=make_id_number(7))
    for key, value in changes.items():
        if key.startswith("c_"):
            r["candidate"][key[2:]] = value
        else:
            r[key] = value
    return r


def _without(*keys: str) -> dict[str, Any]:
    r = record("x-2", id_number=make_id_number(8))
    for key in keys:
        if key.startswith("c_"):
            r["candidate"].pop(key[2:])
        else:
            r.pop(key)
    return r


CASES: list[Any] = [
    1,
    "text",
    None,
    [],
    {},
    _changed(candidate=5),
    _changed(candidate=None),
    _changed(candidate=[]),
    _changed(candidate={}),
    _without("candidate"),
    _without("c_school_org", "c_name"),
    _without("external_id", "level", "exam_date"),
    _changed(c_id_number="123"),
    _changed(c_id_number=12345),
    _changed(c_id_number=" " + make_id_number(9).lower().replace("x", "x") + " "),
    _changed(c_name="  张三  "),
    _changed(c_name=""),
    _changed(c_school_org=""),
    _changed(c_graduation_year="2027"),
    _changed(c_graduation_year=1999),
    _changed(level=0),
    _changed(level="4"),
    _changed(level=4.0),
    _changed(level=4.5),
    _changed(level=True),
    _changed(theory_score=60.55),
    _changed(theory_score="60.5"),
    _changed(theory_score=101),
    _changed(theory_score=None),
    _changed(review_score=70),
    _changed(exam_date="2026-13-01"),
    _changed(exam_date=20261110),
    _changed(exam_date="2026-11-10T00:00:00"),
    _changed(occupation_code="6-25-02"),
    _changed(external_id=""),
    _changed(external_id=5),
    _changed(work_type="x" * 101),
    _changed(work_type="车工"),
    _changed(extra_field=1),
    _changed(c_extra=1),
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_one_record_gives_the_same_values_and_errors_as_before(case: int) -> None:
    records = [copy.deepcopy(CASES[case])]
    valid, errors = check_shapes(copy.deepcopy(records))
    valid_before, errors_before = _before(records)
    assert errors == errors_before
    assert {i: _values(r) for i, r in valid.items()} == {i: _values(r) for i, r in valid_before.items()}


def test_a_mixed_batch_gives_the_same_rows_as_before() -> None:
    records = [record(f"m-{n}", id_number=make_id_number(n)) for n in range(30)] + copy.deepcopy(CASES)
    valid, errors = check_shapes(copy.deepcopy(records))
    valid_before, errors_before = _before(records)
    assert errors == errors_before and len(errors) > 20
    assert {i: _values(r) for i, r in valid.items()} == {i: _values(r) for i, r in valid_before.items()}
    assert isinstance(valid[0], RecordIn) and valid[0].theory_score == Decimal(80)


def test_a_record_that_is_not_an_object_keeps_its_words() -> None:
    _, errors = check_shapes([1, _changed(candidate="x")])
    assert errors[0] == [
        {"loc": [0], "msg": "Input should be a valid dictionary or instance of RecordIn", "type": "model_type"}
    ]
    assert errors[1] == [
        {
            "loc": [1, "candidate"],
            "msg": "Input should be a valid dictionary or instance of CandidateIn",
            "type": "model_type",
        }
    ]


def test_records_are_slotted() -> None:
    valid, _ = check_shapes([record("s-1", id_number=make_id_number(11))])
    assert not hasattr(valid[0], "__dict__") and not hasattr(valid[0].candidate, "__dict__")
