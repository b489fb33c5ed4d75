"""POST /v1/certificates/of-learners: many learners' certificates in one call, for the service role."""

from __future__ import annotations

from typing import Any

from services.kit.pii import learner_id
from tests.assessment.asm_support import make_body, make_id_number, record, unique, upload
from tests.support.fixtures import TEST_SECRET

PATH = "/v1/certificates/of-learners"


async def test_every_learners_certificates_and_schools_in_one_answer(client: Any, tokens: Any) -> None:
    body_a = await make_body(client, tokens, org="univ-a")
    body_b = await make_body(client, tokens, org="univ-b")
    ids = [make_id_number(unique()) for _ in range(3)]
    rows_a = (
        await upload(
            client,
            tokens,
            body_a["id"],
            [record("a1", id_number=ids[0], school="univ-a"), record("a2", id_number=ids[1], school="univ-a", level=3)],
            org="univ-a",
        )
    ).json()["rows"]
    rows_b = (
        await upload(
            client, tokens, body_b["id"], [record("b1", id_number=ids[0], school="univ-b", level=5)], org="univ-b"
        )
    ).json()["rows"]
    first, second, nobody = (learner_id(i, TEST_SECRET) for i in ids)
    await client.post(
        f"/v1/certificates/{rows_a[1]['certificate_number']}/suspend",
        headers=tokens.headers("university", org="univ-a"),
        json={"reason": "复核"},
    )

    r = await client.post(PATH, headers=tokens.headers("service"), json={"learner_ids": [second, first, nobody, first]})
    assert r.status_code == 200, r.text
    learners = r.json()["learners"]
    assert [x["learner_id"] for x in learners] == [second, first, nobody]  # request order, each once
    assert learners[0]["school_orgs"] == ["univ-a"]
    assert [(c["number"], c["status"], c["level"]) for c in learners[0]["certificates"]] == [
        (rows_a[1]["certificate_number"], "suspended", 3)
    ]
    assert learners[1]["school_orgs"] == ["univ-a", "univ-b"]
    assert sorted((c["number"], c["university_org"]) for c in learners[1]["certificates"]) == sorted(
        [(rows_a[0]["certificate_number"], "univ-a"), (rows_b[0]["certificate_number"], "univ-b")]
    )
    assert learners[2] == {"learner_id": nobody, "school_orgs": [], "certificates": []}
    assert "holder_name" not in learners[1]["certificates"][0]

    valid = await client.post(
        PATH, headers=tokens.headers("service"), json={"learner_ids": [second, first], "status": "valid"}
    )
    assert [len(x["certificates"]) for x in valid.json()["learners"]] == [0, 2]


async def test_only_the_service_role_and_a_size_limit_naming_the_field(client: Any, tokens: Any) -> None:
    for role in ("admin", "platform", "student"):
        r = await client.post(PATH, headers=tokens.headers(role), json={"learner_ids": ["lrn_a"]})
        assert r.status_code == 403, role
    r = await client.post(PATH, headers=tokens.headers("university", org="univ-a"), json={"learner_ids": ["lrn_a"]})
    assert r.status_code == 403
    too_many = await client.post(
        PATH, headers=tokens.headers("service"), json={"learner_ids": [f"lrn_{n}" for n in range(5_001)]}
    )
    assert too_many.status_code == 422
    assert [e["loc"] for e in too_many.json()["errors"]] == [["body", "learner_ids"]]
