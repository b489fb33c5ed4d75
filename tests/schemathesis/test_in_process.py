"""Issue 11: schemathesis in-process against every service's app object and the gateway's own
routes — the ASGI transport, a real PostgreSQL behind each app (a database of its own, built by
the migrations), real signed tokens. Stateful: the create routes declare OpenAPI links (the kit
adds them), so schemathesis chains a create into reads and changes of what it created.

Checks: not_a_server_error, response_schema_conformance, status_code_conformance,
content_type_conformance. Bounded (a few examples an operation, a fixed seed) to keep ``make test``
quick; ``SKILLPASS_FUZZ_EXAMPLES`` raises it for a longer hunt.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.support.fixtures import shared_settings_for_tests, verifier_for_tests

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is not installed (pip install -e '.[dev]')")

CHECKS = ["not_a_server_error", "response_schema_conformance", "status_code_conformance", "content_type_conformance"]
# Every operation as an admin; the operations only a university may call, as a university.
RUNS = [
    ("gateway", "admin", None),
    ("catalogue", "admin", None),
    ("assessment", "admin", None),
    ("assessment", "university", "^/v1/batches"),
    ("credit_bank", "admin", None),
    ("incentives", "admin", None),
    ("incentives", "university", "^/v1/subsidy-claims"),
    ("statistics", "admin", None),
]
EXAMPLES = int(os.environ.get("SKILLPASS_FUZZ_EXAMPLES", "3"))


@pytest.fixture(scope="module")
async def fuzz_urls(pg_server: str, test_db: Any) -> dict[str, str]:
    """A database of its own: schemathesis commits what it creates, other tests roll back."""
    from skillpass.bootstrap import bootstrap, role_url
    from skillpass.registry import ALL

    # Roles are cluster-wide: new passwords here locked every later test of the worker out (the
    # serial order hid it: a later module's bootstrap happened to set the session's back).
    passwords = test_db.passwords
    db_admin = await bootstrap(pg_server, "skillpass_fuzz_" + uuid.uuid4().hex[:8], passwords)
    return {s.name: role_url(db_admin, s, passwords[s.name]) for s in ALL}


def _app(name: str, url: str) -> Any:
    from services.kit.auth import SigningKey

    shared = shared_settings_for_tests()
    if name == "gateway":
        from gateway.app import create_app
        from gateway.settings import GatewaySettings

        down = "http://127.0.0.1:9"
        return create_app(
            GatewaySettings(
                database_url=url,
                shared=shared,
                signing_key_pem=SigningKey.generate().private_pem.decode(),
                catalogue_url=down,
                assessment_url=down,
                credit_bank_url=down,
                incentives_url=down,
                statistics_url=down,
            )
        )
    if name == "assessment":
        from services.assessment.app import create_app
        from services.assessment.settings import AssessmentSettings
        from tests.assessment.asm_support import FakeCatalogue

        return create_app(
            AssessmentSettings(
                database_url=url, shared=shared, credential_key_pem=SigningKey.generate().private_pem.decode()
            ),
            catalogue_transport=httpx.MockTransport(FakeCatalogue().handler),
        )
    if name == "catalogue":
        from services.catalogue.app import create_app
        from services.catalogue.settings import CatalogueSettings

        return create_app(CatalogueSettings(database_url=url, shared=shared))
    if name == "credit_bank":
        from services.credit_bank.app import create_app
        from services.credit_bank.settings import CreditBankSettings
        from tests.credit_bank.conftest import FakeAssessment

        # Upstreams answer (fakes) so the calls reach the service's own code, not a 503.
        return create_app(
            CreditBankSettings(database_url=url, shared=shared),
            assessment_transport=httpx.MockTransport(FakeAssessment().handler),
        )
    if name == "incentives":
        from services.incentives.app import create_app
        from services.incentives.settings import IncentivesSettings
        from tests.incentives.conftest import FakeAssessment, FakeCatalogue

        return create_app(
            IncentivesSettings(database_url=url, shared=shared),
            assessment_transport=httpx.MockTransport(FakeAssessment().handler),
            catalogue_transport=httpx.MockTransport(FakeCatalogue().handler),
        )
    from services.statistics.app import create_app
    from services.statistics.settings import StatisticsSettings

    return create_app(StatisticsSettings(database_url=url, shared=shared), poll=False)


@pytest.fixture(scope="module")
def asgi_lifespans() -> Iterator[None]:
    """Schemathesis runs every app's lifespan on one event-loop thread of its own; the apps'
    connection pools live there. Ended (engines disposed) when the module is done."""
    from schemathesis.python import asgi

    yield
    asgi.shutdown_lifespans()


def _describe(failure: Any, steps: list[Any]) -> str:
    last = steps[-1].curl if steps else ""
    return f"{failure.code} {failure.operation}: {failure.title}: {str(failure.message)[:400]}\n  {last[:600]}"


def _has_links(schema: dict[str, Any]) -> bool:
    return any(
        "links" in response
        for ops in schema["paths"].values()
        for op in ops.values()
        for response in op["responses"].values()
    )


@dataclass
class Tally:
    cases: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    stateful: bool = False
    failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def add(self, event: Any) -> None:
        from schemathesis.engine import Status, events
        from schemathesis.engine.run import PhaseName

        if isinstance(event, events.NonFatalError | events.FatalError):
            self.errors.append(f"{type(event).__name__}: {getattr(event, 'label', '')}: {event.info.message}"[:800])
        if not isinstance(event, events.ScenarioFinished):
            return
        self.cases += len(event.recorder.cases)
        self.statuses.update(i.response.status_code // 100 for i in event.recorder.interactions.values() if i.response)
        self.stateful |= event.phase == PhaseName.STATEFUL_TESTING and bool(event.recorder.cases)
        if event.status == Status.FAILURE:
            infos = [n.failure_info for nodes in event.recorder.checks.values() for n in nodes if n.failure_info]
            for info in infos:
                case_id = info.steps[-1].case_id if info.steps else info.failure.case_id
                response = event.recorder.find_response(case_id=case_id) if case_id else None
                answer = f"{response.status_code} {response.text[:300]}" if response is not None else "?"
                self.failures.append(_describe(info.failure, info.steps) + f"\n  answered {answer}")


def _config(token: str) -> Any:
    from schemathesis.config import SchemathesisConfig
    from schemathesis.python import asgi

    config = SchemathesisConfig()
    config.update(seed=11, max_failures=None)
    project = config.projects.override
    # The app's own routes, not the first of its documented servers (the gateway's /api/<service>).
    project.update(base_url=f"http://{asgi.HOST}", headers={"Authorization": f"Bearer {token}"}, workers=1)
    project.checks.update(included_check_names=CHECKS)
    project.generation.update(max_examples=EXAMPLES)
    return config


@pytest.mark.parametrize(("name", "role", "paths"), RUNS, ids=[f"{n}-{r}" for n, r, _ in RUNS])
def test_schemathesis_finds_nothing_in_process(name, role, paths, fuzz_urls, signing_key, tokens, asgi_lifespans):
    from schemathesis.engine import from_schema

    # An app of its own per run: the engine ends the app's lifespan when it is done, and a
    # service's upstream clients, made with the app, are closed with it.
    app = _app(name, fuzz_urls[name])
    app.state.verifier = verifier_for_tests(signing_key)
    claims = {"org": "univ-fuzz", "sub": "sis-fuzz"} if role == "university" else {"sub": "probe"}
    tally = Tally()
    logging.disable(logging.CRITICAL)
    try:
        schema = schemathesis.openapi.from_asgi(
            "/openapi.json", app, config=_config(tokens(role, ttl_s=3600, **claims))
        )
        if paths is not None:
            schema = schema.include(path_regex=paths)
        for event in from_schema(schema).execute():
            tally.add(event)
    finally:
        logging.disable(logging.NOTSET)
    print(f"{name} as {role}: {tally.cases} cases, answers by class {dict(tally.statuses)}, stateful={tally.stateful}")
    assert not tally.errors, "\n".join(tally.errors)
    assert not tally.failures, f"{len(tally.failures)} failures:\n" + "\n".join(sorted(set(tally.failures)))
    if role == "admin":  # (a university of its own has no bodies or claims to work on)
        assert tally.statuses[2] > 0, f"nothing succeeded: {tally.statuses}"
    if _has_links(app.openapi()):  # the creates link to what they made: followed statefully
        assert tally.stateful, "the stateful phase did not run"
