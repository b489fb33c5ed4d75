"""Every credential we issue validates against 1EdTech's official OB 3.0 AchievementCredential schema.

The schema is read from ``<repo>/../shared/data/ob3/`` (never copied into the repository). The
verifier's run-time check (``services.assessment.ob3_schema``) is run side by side with it on our
credentials and on broken variants, so the two agree.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from services.assessment import ob3_schema
from tests.assessment.asm_support import record
from tests.assessment.vc_support import credential, issue, official_schema, schema_errors


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return official_schema()


async def _issued(client: Any, tokens: Any) -> list[dict[str, Any]]:
    recs = [
        record("ob-4"),
        record("ob-3", level=3, work_type="焊接机器人"),
        record("ob-2", code="2-02-38-01", level=2, review=88),
        record("ob-1", code="2-02-38-01", level=1, review=90, name="欧阳娜娜"),
    ]
    _, numbers = await issue(client, tokens, recs)
    admin, univ = tokens.headers("admin"), tokens.headers("university", org="univ-a")
    await client.post(f"/v1/certificates/{numbers[1]}/suspend", headers=univ, json={"reason": "复核"})
    await client.post(f"/v1/certificates/{numbers[2]}/revoke", headers=admin, json={"reason": "撤销"})
    return [await credential(client, tokens, rec, n) for rec, n in zip(recs, numbers, strict=True)]


async def test_issued_credentials_validate_against_the_official_schema(
    client: Any, tokens: Any, schema: dict[str, Any]
) -> None:
    assert schema["$schema"].startswith("https://json-schema.org/draft/2019-09")
    for vc in await _issued(client, tokens):
        assert schema_errors(schema, vc) == [], json.dumps(vc, ensure_ascii=False)
        assert ob3_schema.check(vc) == []


def _without(path: str) -> Callable[[dict[str, Any]], None]:
    *parents, last = path.split(".")

    def edit(vc: dict[str, Any]) -> None:
        node = vc
        for p in parents:
            node = node[p]
        del node[last]

    return edit


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    *parents, last = path.split(".")

    def edit(vc: dict[str, Any]) -> None:
        node = vc
        for p in parents:
            node = node[p]
        node[last] = value

    return edit


BROKEN: dict[str, Callable[[dict[str, Any]], None]] = {
    "two status entries (the old form)": lambda vc: vc.update(credentialStatus=[vc["credentialStatus"]] * 2),
    "status entry without id": _without("credentialStatus.id"),
    "no validFrom": _without("validFrom"),
    "no issuer": _without("issuer"),
    "issuer without type": _without("issuer.id"),
    "issuer not a Profile": _set("issuer.type", ["Organization"]),
    "no credentialSubject": _without("credentialSubject"),
    "subject without achievement": _without("credentialSubject.achievement"),
    "achievement without criteria": _without("credentialSubject.achievement.criteria"),
    "achievement without description": _without("credentialSubject.achievement.description"),
    "achievement type": _set("credentialSubject.achievement.type", ["Badge"]),
    "subject type": _set("credentialSubject.type", "AchievementSubject"),
    "plain VC type": _set("type", ["VerifiableCredential"]),
    "contexts swapped": lambda vc: vc.update({"@context": vc["@context"][1::-1] + vc["@context"][2:]}),
    "one context": lambda vc: vc.update({"@context": vc["@context"][:1]}),
    "validFrom not a date-time": _set("validFrom", "yesterday"),
    "awardedDate not a date-time": _set("awardedDate", "2026-13-45T00:00:00+08:00"),
    "licenseNumber a number": _set("credentialSubject.licenseNumber", 42),
    "proof not an array": _set("proof", {"type": "DataIntegrityProof"}),
}
ACCEPTED: dict[str, Callable[[dict[str, Any]], None]] = {
    "OpenBadgeCredential alias": _set("type", ["VerifiableCredential", "OpenBadgeCredential"]),
    "issuer as a URI": _set("issuer", "urn:skillpass:body:x"),
    "no credentialStatus": _without("credentialStatus"),
    "validUntil": _set("validUntil", "2030-01-01T00:00:00Z"),
}


async def test_the_run_time_check_agrees_with_the_official_schema(
    client: Any, tokens: Any, schema: dict[str, Any]
) -> None:
    [vc, *_] = await _issued(client, tokens)
    for name, edit in BROKEN.items():
        broken = copy.deepcopy(vc)
        edit(broken)
        assert schema_errors(schema, broken), f"the official schema accepts: {name}"
        assert ob3_schema.check(broken), f"our check accepts: {name}"
    for name, edit in ACCEPTED.items():
        fine = copy.deepcopy(vc)
        edit(fine)
        assert schema_errors(schema, fine) == [], name
        assert ob3_schema.check(fine) == [], name


async def test_every_extra_property_is_an_ob3_term_or_in_our_context(
    client: Any, tokens: Any, schema: dict[str, Any]
) -> None:
    [vc, *_] = await _issued(client, tokens)
    ours = set((await client.get("/v1/contexts/skillpass-v1")).json()["@context"])
    defs = schema["$defs"]
    where = {
        "": (schema["properties"], vc),
        "issuer": (defs["Profile"]["properties"], vc["issuer"]),
        "credentialSubject": (defs["AchievementSubject"]["properties"], vc["credentialSubject"]),
        "achievement": (defs["Achievement"]["properties"], vc["credentialSubject"]["achievement"]),
        "criteria": (defs["Criteria"]["properties"], vc["credentialSubject"]["achievement"]["criteria"]),
    }
    # The status entry's terms are Bitstring Status List terms in the VC 2.0 context.
    bitstring = {"statusPurpose", "statusListIndex", "statusListCredential", "statusSize", "statusMessage"}
    for name, (known, node) in where.items():
        extra = set(node) - set(known) - {"iat"} - ({"credentialStatus"} if name == "" else set())
        assert extra <= ours, f"{name}: {extra - ours} are neither OB 3.0 terms nor in our context"
    assert set(vc["credentialStatus"]) - {"id", "type"} <= bitstring
