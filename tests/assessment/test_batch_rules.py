"""Every batch rule: each rejection reason, score rules, modes, limits and the catalogue call."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from services.kit.clock import today_in_shanghai
from tests.assessment.asm_support import FakeCatalogue, make_body, make_id_number, record, unique, upload


def _types(row: dict[str, Any]) -> list[str]:
    return [e["type"] for e in row.get("errors") or []]


async def test_pass_issues_a_national_number_and_fail_stores_no_certificate(
    client: Any, tokens: Any, catalogue: FakeCatalogue
) -> None:
    body = await make_body(client, tokens)
    catalogue.calls.clear()
    r = await upload(
        client,
        tokens,
        body["id"],
        [record("p1"), record("f1", practical=59.5), record("p2", code="2-02-38-01", level=2, review=60)],
    )
    assert r.status_code == 201, r.text
    got = r.json()
    assert (got["accepted"], got["rejected"], got["duplicates"]) == (3, 0, 0)
    p1, f1, p2 = got["rows"]
    year = f"{today_in_shanghai().year % 100:02d}"
    assert p1["certificate_number"] == f"Y000031{body['sequence']:06d}{year}4000001"
    assert len(p1["certificate_number"]) == 22
    assert f1["status"] == "accepted"
    assert f1["certificate_number"] is None
    assert f1["record_id"]
    assert p2["certificate_number"] == f"Y000031{body['sequence']:06d}{year}2000001"
    assert len(catalogue.calls) == 1  # one lookup for the whole batch
    assert {(q["occupation_code"], q["level"]) for q in catalogue.calls[0]} == {
        ("6-25-02-05", 4),
        ("2-02-38-01", 2),
    }


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"code": "9-99-99-99"}, ["unknown_occupation", "outside_filing_scope"]),
        ({"code": "4-10-01-05"}, ["outside_filing_scope"]),
        ({"level": 1, "review": 90}, ["outside_filing_scope"]),
        ({"exam_date": date(2025, 12, 1), "graduation_year": 2026}, ["no_filing_in_force"]),
        ({"school": "univ-b"}, ["not_own_student"]),
        ({"graduation_year": 2028}, ["not_graduating_year"]),
        ({"graduation_year": 2026}, ["not_graduating_year"]),
        ({"code": "2-02-38-01", "level": 2}, ["review_score_required"]),
        ({"exam_date": today_in_shanghai() + timedelta(days=3)}, ["exam_date_in_future"]),
        (
            {"school": "univ-b", "graduation_year": 2030, "code": "4-10-01-05"},
            ["outside_filing_scope", "not_own_student", "not_graduating_year"],
        ),
    ],
)
async def test_each_rule_rejects_with_its_reason(
    client: Any, tokens: Any, change: dict[str, Any], expected: list[str]
) -> None:
    body = await make_body(client, tokens)
    r = await upload(client, tokens, body["id"], [record("ok"), record("bad", **change)])
    assert r.status_code == 201, r.text
    ok, bad = r.json()["rows"]
    assert ok["status"] == "accepted"
    assert bad["status"] == "rejected"
    assert _types(bad) == expected
    assert all(e["loc"][0] == 1 for e in bad["errors"])


async def test_suspended_filing_means_no_filing_in_force(client: Any, tokens: Any) -> None:
    body = await make_body(client, tokens)
    await client.post(
        f"/v1/bodies/{body['id']}/filings/{body['filing']['id']}/suspend",
        headers=tokens.headers("admin"),
        json={"reason": "整改"},
    )
    r = await upload(client, tokens, body["id"], [record("x")])
    assert _types(r.json()["rows"][0]) == ["no_filing_in_force"]


async def test_in_catalogue_on_issue_follows_an_entry_narrowed_to_the_work_type(
    client: Any, tokens: Any, catalogue: FakeCatalogue
) -> None:
    # The catalogue lists 4-04-05-05 only for the work type 云运维 (an entry narrowed to it).
    catalogue.work_type_entries = {("4-04-05-05", "云运维")}
    body = await make_body(client, tokens, scope=[{"occupation_code": "4-04-05-05", "levels": [4]}])
    r = await upload(
        client,
        tokens,
        body["id"],
        [record("a", code="4-04-05-05", work_type="云运维"), record("b", code="4-04-05-05", work_type="云开发")],
    )
    numbers = [row["certificate_number"] for row in r.json()["rows"]]
    admin = tokens.headers("admin")
    got = [(await client.get(f"/v1/certificates/{n}", headers=admin)).json() for n in numbers]
    assert [(c["work_type"], c["in_catalogue_on_issue"]) for c in got] == [("云运维", True), ("云开发", False)]
    assert {q.get("work_type") for q in catalogue.calls[-1]} == {"云运维", "云开发"}


async def test_work_type_in_scope_narrows_it(client: Any, tokens: Any) -> None:
    body = await make_body(
        client, tokens, scope=[{"occupation_code": "4-04-05-05", "work_type": "云运维", "levels": [4]}]
    )
    r = await upload(
        client,
        tokens,
        body["id"],
        [
            record("a", code="4-04-05-05", work_type="云运维"),
            record("b", code="4-04-05-05", work_type="云开发"),
            record("c", code="4-04-05-05"),
        ],
    )
    assert [row["status"] for row in r.json()["rows"]] == ["accepted", "rejected", "rejected"]


async def test_shape_errors_are_all_reported_per_row_without_echoing_the_id_number(client: Any, tokens: Any) -> None:
    body = await make_body(client, tokens)
    bad_id = make_id_number(unique())
    bad_id = bad_id[:-1] + ("1" if bad_id[-1] != "1" else "2")
    broken = record("s1", id_number=bad_id, theory=101, level=6)
    del broken["exam_date"]
    r = await upload(client, tokens, body["id"], [record("ok"), broken])
    row = r.json()["rows"][1]
    assert row["status"] == "rejected"
    assert sorted(_types(row)) == ["invalid_id_number", "less_than_equal", "less_than_equal", "missing"]
    assert {tuple(e["loc"]) for e in row["errors"]} == {
        (1, "candidate", "id_number"),
        (1, "level"),
        (1, "exam_date"),
        (1, "theory_score"),
    }
    assert bad_id not in r.text


async def test_external_id_repeated_in_one_batch_is_rejected(client: Any, tokens: Any) -> None:
    body = await make_body(client, tokens)
    r = await upload(client, tokens, body["id"], [record("same"), record("same")])
    assert [row["status"] for row in r.json()["rows"]] == ["accepted", "rejected"]
    assert _types(r.json()["rows"][1]) == ["repeated_in_batch"]


async def test_score_rules_per_level(client: Any, tokens: Any) -> None:
    body = await make_body(client, tokens)
    rows = [
        record("t59", theory=59.9),
        record("p60", theory=60, practical=60),
        record("r59", code="2-02-38-01", level=1, review=59),
        record("r60", code="2-02-38-01", level=1, review=60),
    ]
    got = (await upload(client, tokens, body["id"], rows)).json()["rows"]
    assert [row["certificate_number"] is not None for row in got] == [False, True, False, True]
    assert all(row["status"] == "accepted" for row in got)


async def test_social_body_assesses_other_schools_and_any_year(client: Any, tokens: Any) -> None:
    body = await make_body(client, tokens, kind="social", org="univ-a")
    r = await upload(client, tokens, body["id"], [record("o1", school="univ-z", graduation_year=2020)])
    row = r.json()["rows"][0]
    assert row["status"] == "accepted"
    assert row["certificate_number"].startswith("S000031")


async def test_all_or_nothing_stores_nothing_when_a_row_fails(client: Any, tokens: Any) -> None:
    body = await make_body(client, tokens)
    r = await upload(client, tokens, body["id"], [record("a1"), record("a2", school="univ-b")], mode="all_or_nothing")
    assert r.status_code == 422
    problem = r.json()
    assert problem["type"].endswith("batch-rejected")
    assert problem["errors"] == [
        {
            "loc": [1, "candidate", "school_org"],
            "type": "not_own_student",
            "msg": "an employer body assesses only students of its own university",
        }
    ]
    listed = await client.get(f"/v1/records?body_id={body['id']}", headers=tokens.headers("admin"))
    assert listed.json()["items"] == []
    r = await upload(client, tokens, body["id"], [record("a1")], mode="all_or_nothing")
    assert r.status_code == 201
    assert r.json()["rows"][0]["status"] == "accepted"


async def test_catalogue_down_fails_fast_and_stores_nothing(client: Any, tokens: Any, catalogue: FakeCatalogue) -> None:
    body = await make_body(client, tokens)
    catalogue.down = True
    r = await upload(client, tokens, body["id"], [record("d1")])
    assert r.status_code == 503
    assert r.json()["type"].endswith("upstream-unavailable")
    listed = await client.get(f"/v1/records?body_id={body['id']}", headers=tokens.headers("admin"))
    assert listed.json()["items"] == []


async def test_too_many_records_is_413_and_empty_is_422(client: Any, tokens: Any) -> None:
    body = await make_body(client, tokens)
    r = await upload(client, tokens, body["id"], [{}] * 10_001)
    assert r.status_code == 413
    assert "10000" in r.json()["detail"]
    r = await upload(client, tokens, body["id"], [])
    assert r.status_code == 422


async def test_csv_upload(client: Any, tokens: Any) -> None:
    body = await make_body(client, tokens)
    header = (
        "external_id,id_number,name,student_no,school_org,graduation_year,major,occupation_code,work_type,"
        "level,exam_date,theory_score,practical_score,review_score"
    )
    lines = [
        header,
        f"c1,{make_id_number(unique())},李四,S1,univ-a,2027,机械,6-25-02-05,,4,2026-11-10,88,90,",
        f"c2,{make_id_number(unique())},王五,S2,univ-a,2027,机械,2-02-38-01,,2,2026-11-10,88,90,",
        f"c3,{make_id_number(unique())},赵六,S3,univ-a,2027,机械,2-02-38-01,,2,2026-11-10,88,90,75",
    ]
    r = await client.post(
        f"/v1/batches?body_id={body['id']}&mode=partial",
        headers={**tokens.headers("university", org="univ-a"), "Content-Type": "text/csv"},
        content="\n".join(lines).encode(),
    )
    assert r.status_code == 201, r.text
    rows = r.json()["rows"]
    assert [row["status"] for row in rows] == ["accepted", "rejected", "accepted"]
    assert _types(rows[1]) == ["review_score_required"]
    assert rows[2]["certificate_number"][13] == "2"


async def test_only_universities_upload_and_only_to_their_bodies(client: Any, tokens: Any) -> None:
    body = await make_body(client, tokens, org="univ-a")
    r = await upload(client, tokens, body["id"], [record("t1", school="univ-b")], org="univ-b")
    assert r.status_code == 404
    assert r.json()["type"].endswith("body-not-found")
    r = await client.post(
        "/v1/batches",
        headers=tokens.headers("admin"),
        json={"body_id": body["id"], "records": [record("t2")]},
    )
    assert r.status_code == 403
