"""The access matrix (issue 11): every operation of every service's OpenAPI (and the gateway's own)
× every kind of caller → the answer class, asserted against tests/access/matrix.json.

``401`` no valid token, ``403`` the role may not, ``ok`` let through (2xx, or 404/422 for the
placeholder ids and empty bodies used here — tenancy itself is proved in each service's tests).
A new operation without an entry in the matrix fails; so does any 5xx. Regenerate after a reviewed
change with ``SKILLPASS_WRITE_ACCESS_MATRIX=1 pytest tests/access`` and read the diff.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.fixtures import app_client, shared_settings_for_tests

MATRIX = Path(__file__).with_name("matrix.json")
CALLERS: dict[str, dict[str, Any] | None] = {
    "admin": {"role": "admin", "sub": "adm"},
    "university_a": {"role": "university", "org": "univ-a", "sub": "sis-a"},
    "university_b": {"role": "university", "org": "univ-b", "sub": "sis-b"},
    "student_a1": {"role": "student", "sub": "lrn_a1"},
    "student_a2": {"role": "student", "sub": "lrn_a2"},
    "platform": {"role": "platform", "sub": "city"},
    "service": {"role": "service", "sub": "svc"},
    "no_token": None,
}
WRITES = ("post", "put", "patch", "delete")
# Reads sent as POST (a body of up to 10,000 queries); they change nothing.
READS_BY_POST = {
    "catalogue POST /v1/lookups",
    # A credential sent to be checked: stores nothing (issue 12).
    "assessment POST /v1/credentials/verify",
    # Many certificates' status for a service (the credit bank's bulk deposits): reads only (issue 9).
    "assessment POST /v1/certificates/check",
    # A points simulation answers what-if and stores nothing (issue 10).
    "incentives POST /v1/points/simulate",
}
# Token requests: client credentials, or a city IdP token exchanged for a student token (issue 13).
TOKEN_REQUESTS = {"gateway POST /auth/token", "gateway POST /auth/idp-token"}


def _writes(matrix: dict[str, dict[str, str]], caller: str) -> set[str]:
    return {
        op
        for op, row in matrix.items()
        if op.split()[1].lower() in WRITES and op not in READS_BY_POST and row[caller] == "ok"
    }


def _apps(test_db: Any) -> dict[str, tuple[Any, str]]:
    from gateway.app import create_app as gateway
    from gateway.settings import GatewaySettings
    from services.assessment.app import create_app as assessment
    from services.assessment.settings import AssessmentSettings
    from services.catalogue.app import create_app as catalogue
    from services.catalogue.settings import CatalogueSettings
    from services.credit_bank.app import create_app as credit_bank
    from services.credit_bank.settings import CreditBankSettings
    from services.incentives.app import create_app as incentives
    from services.incentives.settings import IncentivesSettings
    from services.kit.auth import SigningKey
    from services.statistics.app import create_app as statistics
    from services.statistics.settings import StatisticsSettings
    from tests.assessment.asm_support import FakeCatalogue

    shared = shared_settings_for_tests()
    urls = test_db.role_urls
    pem = SigningKey.generate().private_pem.decode()
    down = "http://127.0.0.1:9"
    return {
        "gateway": (
            gateway(
                GatewaySettings(
                    database_url=urls["gateway"],
                    shared=shared,
                    signing_key_pem=pem,
                    catalogue_url=down,
                    assessment_url=down,
                    credit_bank_url=down,
                    incentives_url=down,
                    statistics_url=down,
                )
            ),
            "gateway",
        ),
        "assessment": (
            assessment(
                AssessmentSettings(database_url=urls["assessment"], shared=shared, credential_key_pem=pem),
                catalogue_transport=httpx.MockTransport(FakeCatalogue().handler),
            ),
            "assessment",
        ),
        "catalogue": (catalogue(CatalogueSettings(database_url=urls["catalogue"], shared=shared)), "catalogue"),
        "credit_bank": (
            credit_bank(CreditBankSettings(database_url=urls["credit_bank"], shared=shared)),
            "credit_bank",
        ),
        "incentives": (incentives(IncentivesSettings(database_url=urls["incentives"], shared=shared)), "incentives"),
        "statistics": (
            statistics(StatisticsSettings(database_url=urls["statistics"], shared=shared), poll=False),
            "statistics",
        ),
    }


def _path_value(param: dict[str, Any]) -> str:
    schema = param.get("schema", {})
    if schema.get("type") == "integer":
        return "1"
    if schema.get("format") == "uuid":
        return str(uuid.UUID(int=1))
    if schema.get("enum"):
        return str(schema["enum"][0])
    return "x1"


def _request(path: str, method: str, op: dict[str, Any]) -> dict[str, Any]:
    for param in op.get("parameters", []):
        if param["in"] == "path":
            path = path.replace("{" + param["name"] + "}", _path_value(param))
    kw: dict[str, Any] = {"method": method.upper(), "url": path}
    content = op.get("requestBody", {}).get("content", {})
    if "application/x-www-form-urlencoded" in content or "multipart/form-data" in content:
        kw["data"] = {}
    elif method in WRITES:
        kw["json"] = {}
    return kw


def _outcome(status: int) -> str:
    if status in (401, 403):
        return str(status)
    return "ok"


async def _observe(test_db: Any, signing_key: Any, tokens: Any) -> dict[str, dict[str, str]]:
    observed: dict[str, dict[str, str]] = {}
    server_errors: list[str] = []
    logging.disable(logging.WARNING)
    try:
        apps = _apps(test_db)
        for service, (app, schema_name) in apps.items():
            verifier = app.state.verifier
            for path, ops in app.openapi()["paths"].items():
                for method, op in ops.items():
                    row: dict[str, str] = {}
                    for caller, claims in CALLERS.items():
                        headers = (
                            tokens.headers(claims["role"], **{k: v for k, v in claims.items() if k != "role"})
                            if claims
                            else {}
                        )
                        async with app_client(app, test_db.engine(schema_name), signing_key) as client:
                            r = await client.request(**_request(path, method, op), headers=headers)
                        if r.status_code >= 500:
                            server_errors.append(f"{service} {method.upper()} {path} as {caller}: {r.status_code}")
                        row[caller] = _outcome(r.status_code)
                    observed[f"{service} {method.upper()} {path}"] = row
            app.state.verifier = verifier
    finally:
        logging.disable(logging.NOTSET)
    assert not server_errors, server_errors
    return observed


async def test_access_matrix(test_db, signing_key, tokens):
    observed = await _observe(test_db, signing_key, tokens)
    if os.environ.get("SKILLPASS_WRITE_ACCESS_MATRIX"):
        MATRIX.write_text(json.dumps(observed, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    expected = json.loads(MATRIX.read_text())
    missing = sorted(set(observed) - set(expected))
    assert not missing, f"operations without an entry in {MATRIX.name}: {missing}"
    gone = sorted(set(expected) - set(observed))
    assert not gone, f"entries for operations that no longer exist: {gone}"
    wrong = {op: (expected[op], observed[op]) for op in observed if expected[op] != observed[op]}
    assert not wrong, wrong


def test_platform_writes_only_catalogue_signals():
    """DESIGN.md: the platform role is the source of catalogue signals, and writes nothing else."""
    matrix = json.loads(MATRIX.read_text())
    # ... and, per DESIGN.md, its own webhook subscriptions (issue 13).
    assert _writes(matrix, "platform") == TOKEN_REQUESTS | {
        "catalogue POST /v1/signals",
        "gateway POST /api/gateway/v1/webhooks",
        "gateway DELETE /api/gateway/v1/webhooks/{webhook_id}",
        "gateway POST /api/gateway/v1/webhooks/{webhook_id}/replay",
    }
    # Nobody without a token writes anything but a token request.
    assert _writes(matrix, "no_token") == TOKEN_REQUESTS


@pytest.mark.parametrize("caller", ["student_a1", "student_a2"])
def test_students_write_only_their_own_requests(caller):
    """A student deposits their outcomes and asks for conversions (credit bank), evaluations and
    subsidy claims (incentives) — on their own learner_id, which each use case checks — and nothing else."""
    assert _writes(json.loads(MATRIX.read_text()), caller) == TOKEN_REQUESTS | {
        "credit_bank POST /v1/outcomes",
        "credit_bank POST /v1/conversions",
        "incentives POST /v1/points/evaluate",
        "incentives POST /v1/points/evaluations/{evaluation_id}/rerun",
        "incentives POST /v1/subsidy-claims",
    }
