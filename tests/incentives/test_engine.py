"""The points engine on the shipped settlement_points rule set: hand-computed graduate profiles."""

import json
from datetime import date
from pathlib import Path

import pytest

from services.incentives import engine
from services.incentives.engine import CertificateFact
from services.kit.problems import InvalidInput

RULES = json.loads(
    (Path(__file__).parents[2] / "services/incentives/data/settlement_points.json").read_text(encoding="utf-8")
)["rules"]


def cert(number, level, in_catalogue, issued_on=date(2026, 5, 10), code="6-31-07-01"):
    return CertificateFact(
        number=number,
        occupation_code=code,
        level=level,
        issued_on=issued_on,
        in_catalogue=in_catalogue,
        edition_id="ed-2024",
    )


BASE = {"degree": "bachelor", "school_tier": 3}  # 21 + 8 = 29

# (name, declared, certificates, total, {item: points})
PROFILES = [
    ("bachelor tier 3, nothing else", BASE, [], 29, {"degree": 21, "school_tier": 8}),
    (
        "master tier 1 in Shanghai, top quartile, CET-6, graduate computer",
        {
            "degree": "master",
            "school_tier": 1,
            "studied_in_shanghai": True,
            "class_rank_quartile": 1,
            "foreign_language": "CET6",
            "computer": "graduate",
        },
        [],
        64,
        {
            "degree": 24,
            "school_tier": 15,
            "studied_in_shanghai": 2,
            "class_rank": 8,
            "foreign_language": 8,
            "computer": 7,
        },
    ),
    (
        "doctor tier 2, second quartile, TEM-8, basic computer",
        {
            "degree": "doctor",
            "school_tier": "2",
            "class_rank_quartile": 2,
            "foreign_language": "TEM8",
            "computer": "basic",
        },
        [],
        59,
        {"degree": 27, "school_tier": 12, "class_rank": 6, "foreign_language": 8, "computer": 6},
    ),
    (
        "honours past the shared cap; a third school honour is over its count limit",
        {
            "degree": "bachelor",
            "school_tier": 2,
            "honours": [
                {"level": "national"},
                {"level": "provincial"},
                {"level": "school"},
                {"level": "school"},
                {"level": "school"},
            ],
        },
        [],
        48,
        {"degree": 21, "school_tier": 12, "honours_competitions": 15},
    ),
    (
        "competitions under the cap",
        {
            "degree": "master",
            "school_tier": 3,
            "competitions": [{"level": "national", "prize": 1}, {"level": "regional", "prize": 3}],
        },
        [],
        43,
        {"degree": 24, "school_tier": 8, "honours_competitions": 11},
    ),
    (
        "patent, western service, start-up",
        {"degree": "bachelor", "school_tier": 1, "patents": 2, "western_service": True, "startup": True},
        [],
        51,
        {"degree": 21, "school_tier": 15, "patent": 5, "western_service": 5, "startup": 5},
    ),
    (
        "employer items",
        {
            "degree": "master",
            "school_tier": 2,
            "employer": {"direct_signing": True, "key_field": 2, "major_project": 1},
        },
        [],
        50,
        {
            "degree": 24,
            "school_tier": 12,
            "employer_direct_signing": 5,
            "employer_key_field": 6,
            "employer_major_project": 3,
        },
    ),
    (
        "level 3 outside the catalogue",
        BASE,
        [cert("C1", 3, False)],
        32,
        {"degree": 21, "school_tier": 8, "skill_certificate": 3},
    ),
    (
        "level 3 in the catalogue: 3 x 1.5 = 4.5 rounds up to 5",
        BASE,
        [cert("C1", 3, True)],
        34,
        {"degree": 21, "school_tier": 8, "skill_certificate": 5},
    ),
    (
        "two certificates, only the highest counts (level 2 in catalogue 7.5 -> 8 beats level 3 plain 3)",
        BASE,
        [cert("C1", 3, False), cert("C2", 2, True)],
        37,
        {"degree": 21, "school_tier": 8, "skill_certificate": 8},
    ),
    (
        "level 1 in the catalogue: 12 capped at 8",
        {"degree": "master", "school_tier": 1, "studied_in_shanghai": True},
        [cert("C1", 1, True)],
        49,
        {"degree": 24, "school_tier": 15, "studied_in_shanghai": 2, "skill_certificate": 8},
    ),
    (
        "issued before the occupation entered the catalogue: no multiplier",
        {"degree": "doctor", "school_tier": 1},
        [cert("C1", 2, False, issued_on=date(2024, 3, 1), code="4-04-05-13")],
        47,
        {"degree": 27, "school_tier": 15, "skill_certificate": 5},
    ),
    (
        "a level-5 certificate scores nothing; 'none' options fire nothing",
        {**BASE, "foreign_language": "none", "computer": "none", "employer": {"key_field": 0}},
        [cert("C1", 5, True)],
        29,
        {"degree": 21, "school_tier": 8},
    ),
    (
        "passes the line of 72",
        {
            "degree": "master",
            "school_tier": 1,
            "studied_in_shanghai": True,
            "class_rank_quartile": 1,
            "foreign_language": "CET6",
            "computer": "graduate",
            "employer": {"direct_signing": True},
        },
        [cert("C1", 3, True)],
        74,
        {
            "degree": 24,
            "school_tier": 15,
            "studied_in_shanghai": 2,
            "class_rank": 8,
            "foreign_language": 8,
            "computer": 7,
            "employer_direct_signing": 5,
            "skill_certificate": 5,
        },
    ),
]


@pytest.mark.parametrize(("name", "declared", "certificates", "total", "items"), PROFILES, ids=[p[0] for p in PROFILES])
def test_hand_computed_profiles(name, declared, certificates, total, items):
    engine.validate_declared(RULES, declared)
    result = engine.score(RULES, declared, certificates)
    assert {i.item: i.points for i in result.items} == items
    assert result.total == total
    assert result.passes is (total >= 72)
    assert result.threshold == 72


def test_every_item_fires_in_some_profile():
    fired = {item for p in PROFILES for item in p[4]}
    assert fired == {item["id"] for item in RULES["items"]}


def test_certificate_evidence_names_the_counted_one_and_the_others():
    result = engine.score(RULES, BASE, [cert("C1", 3, False), cert("C2", 2, True)])
    item = next(i for i in result.items if i.item == "skill_certificate")
    (counted,) = item.evidence["certificates"]
    assert counted["number"] == "C2"
    assert (counted["issued_on"], counted["in_catalogue"], counted["edition_id"]) == ("2026-05-10", True, "ed-2024")
    assert (counted["base_points"], counted["multiplier"], counted["points"]) == (5, "1.5", 8)
    assert item.evidence["not_counted"] == ["C1"]


def test_the_counted_item_shows_what_was_cut():
    honours = [{"level": "national"}, {"level": "national"}, {"level": "school"}]
    result = engine.score(RULES, {"honours": honours}, [])
    (item,) = result.items
    assert (item.points, item.evidence["subtotal"], item.evidence["cap"]) == (15, 21, 15)


@pytest.mark.parametrize(
    ("declared", "loc"),
    [
        ({"degree": "associate"}, ["body", "declared", "degree"]),
        ({"lottery": 1}, ["body", "declared", "lottery"]),
        ({"school_tier": 4}, ["body", "declared", "school_tier"]),
        ({"studied_in_shanghai": "yes"}, ["body", "declared", "studied_in_shanghai"]),
        ({"competitions": [{"level": "national", "prize": 4}]}, ["body", "declared", "competitions", 0, "prize"]),
        ({"honours": [{"level": "city"}]}, ["body", "declared", "honours", 0, "level"]),
        ({"employer": {"key_field": 3}}, ["body", "declared", "employer", "key_field"]),
        ({"employer": {"bonus": True}}, ["body", "declared", "employer", "bonus"]),
        ({"degree": True}, ["body", "declared", "degree"]),
    ],
)
def test_unknown_fields_and_options_are_422_naming_the_field(declared, loc):
    with pytest.raises(InvalidInput) as caught:
        engine.validate_declared(RULES, declared)
    assert [e["loc"] for e in caught.value.errors] == [loc]


def test_every_bad_field_is_listed():
    with pytest.raises(InvalidInput) as caught:
        engine.validate_declared(RULES, {"degree": "x", "computer": "y", "patents": -1})
    assert sorted(e["loc"][-1] for e in caught.value.errors) == ["computer", "degree", "patents"]


def test_certificate_evidence_has_every_field_of_the_fact():
    """The evidence names each CertificateFact field (kept in step when a field is added)."""
    from dataclasses import fields

    result = engine.score(RULES, BASE, [cert("Y1", 3, True)])
    (item,) = [i for i in result.items if i.item == "skill_certificate"]
    (evidence,) = item.evidence["certificates"]
    assert [f.name for f in fields(CertificateFact)] == list(evidence)[: len(fields(CertificateFact))]
    assert evidence["issued_on"] == "2026-05-10"
