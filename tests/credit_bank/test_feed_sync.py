"""Assessment's feed: a revoked certificate's conversions reversed exactly once, a suspension blocks."""

from __future__ import annotations

import uuid

import pytest

from services.credit_bank import feed_sync
from tests.credit_bank.support import AI, ROBOT, UNIV, convert, deposit, problem_type, programme, rule


async def _setup(client, tokens, assessment, learner: str) -> tuple[str, list[str], str]:
    """One certificate converted in two programmes."""
    pids = [await programme(client, tokens), await programme(client, tokens, org="univ-b")]
    for pid, org in zip(pids, (UNIV, "univ-b"), strict=True):
        await rule(client, tokens, pid, credits="4", org=org)
    number = assessment.issue(f"R{uuid.uuid4().hex[:10]}", learner, AI, 4)
    oid = (await deposit(client, tokens, learner, number)).json()["outcome_id"]
    for pid in pids:
        assert (await convert(client, tokens, learner, oid, pid)).status_code == 201
    return number, pids, oid


async def _sync(app, session) -> feed_sync.SyncResult:
    return await feed_sync.sync_assessment_feed(session, app.state.credit_bank.assessment, page_size=2)


async def _reversals(client, tokens, learner: str) -> list[tuple[str, str]]:
    ledger = (await client.get(f"/v1/accounts/{learner}/ledger", headers=tokens.headers("admin"))).json()["items"]
    return [(e["programme_id"], e["credits"]) for e in ledger if e["kind"] == "reverse"]


async def test_revocation_reverses_each_conversion_once_even_delivered_twice(
    client, tokens, assessment, credit_app, session
):
    number, pids, oid = await _setup(client, tokens, assessment, "lrn-f1")
    assessment.issue("other", "lrn-zz", ROBOT, 4)
    assessment.change("other", "suspended", "not ours")  # an event about a certificate never deposited
    event = assessment.change(number, "revoked", "exam fraud")
    assessment.events.append(dict(event))  # delivered twice in the feed
    result = await _sync(credit_app, session)
    assert (result.applied, result.reversed) == (2, 2)
    assert sorted(await _reversals(client, tokens, "lrn-f1")) == sorted((p, "-4.0") for p in pids)
    # A re-list from the start (as after a 410) delivers everything again: nothing more happens.
    await session.execute(feed_sync._SAVE_CURSOR, {"feed": "assessment", "cursor": None})
    await session.commit()
    again = await _sync(credit_app, session)
    assert (again.events, again.applied, again.reversed) == (3, 0, 0)
    account = (await client.get("/v1/accounts/lrn-f1", headers=tokens.headers("student", sub="lrn-f1"))).json()
    assert (account["balance"], account["converted"]) == ("0.0", 0)
    events = (await client.get("/v1/events", params={"limit": 500}, headers=tokens.headers("platform"))).json()
    reversed_ = [e["data"] for e in events["events"] if e["type"] == "credit_bank.conversion.reversed"]
    assert len(reversed_) == 2 and all("exam fraud" in d["reason"] for d in reversed_)
    transcript = (await client.get("/v1/accounts/lrn-f1/transcript", headers=tokens.headers("admin"))).json()
    assert [p["conversions"][0]["status"] for p in transcript["programmes"]] == ["reversed", "reversed"]
    # A revoked certificate converts nowhere any more.
    third = await programme(client, tokens)
    await rule(client, tokens, third, credits="4")
    r = await convert(client, tokens, "lrn-f1", oid, third)
    assert r.status_code == 409 and problem_type(r) == "outcome-revoked" and "exam fraud" in r.json()["detail"]


async def test_a_consumer_killed_before_its_commit_still_reverses_once(
    client, tokens, assessment, credit_app, session, monkeypatch
):
    number, _, _ = await _setup(client, tokens, assessment, "lrn-f2")
    assessment.change(number, "revoked", "withdrawn")
    real_run = feed_sync.run

    async def dies_before_commit(s, stmt, params=None):
        if stmt is feed_sync._SAVE_CURSOR:
            raise SystemExit("killed between applying the page and committing it")
        return await real_run(s, stmt, params)

    monkeypatch.setattr(feed_sync, "run", dies_before_commit)
    with pytest.raises(SystemExit):
        await _sync(credit_app, session)
    await session.rollback()  # what the server does with a dead connection's transaction
    assert await _reversals(client, tokens, "lrn-f2") == []
    monkeypatch.setattr(feed_sync, "run", real_run)
    assert (await _sync(credit_app, session)).reversed == 2
    assert (await _sync(credit_app, session)).reversed == 0
    assert len(await _reversals(client, tokens, "lrn-f2")) == 2


async def test_a_suspension_blocks_conversions_and_flags_the_transcript_until_reinstated(
    client, tokens, assessment, credit_app, session
):
    number, _, oid = await _setup(client, tokens, assessment, "lrn-f3")
    third = await programme(client, tokens)
    await rule(client, tokens, third)
    assessment.change(number, "suspended", "under review")
    await _sync(credit_app, session)
    r = await convert(client, tokens, "lrn-f3", oid, third)
    assert r.status_code == 409 and problem_type(r) == "outcome-suspended" and "under review" in r.json()["detail"]
    lines = (await client.get("/v1/accounts/lrn-f3/transcript", headers=tokens.headers("admin"))).json()["programmes"]
    assert [(p["flagged"], p["converted_credits"]) for p in lines] == [(True, "4.0"), (True, "4.0")]
    assessment.change(number, "reinstated", "cleared")
    await _sync(credit_app, session)
    assert (await convert(client, tokens, "lrn-f3", oid, third)).status_code == 201
    lines = (await client.get("/v1/accounts/lrn-f3/transcript", headers=tokens.headers("admin"))).json()["programmes"]
    assert [p["flagged"] for p in lines] == [False, False, False]
    assert await _reversals(client, tokens, "lrn-f3") == []
