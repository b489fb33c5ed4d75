"""Issue 11, finding 8: every operation of every service and the gateway declares the problems it
answers, as application/problem+json; FastAPI's own 400s carry our problem type."""

import logging

import pytest
from fastapi import APIRouter, HTTPException

from services.kit.app import create_service_app
from services.kit.settings import ServiceSettings
from tests.support.fixtures import app_client, shared_settings_for_tests


def _apps():
    logging.disable(logging.INFO)
    try:
        from gateway.app import create_app as gateway
        from gateway.settings import GatewaySettings
        from services.assessment.app import create_app as assessment
        from services.assessment.settings import AssessmentSettings
        from services.catalogue.app import create_app as catalogue
        from services.credit_bank.app import create_app as credit_bank
        from services.incentives.app import create_app as incentives
        from services.kit.auth import SigningKey

        pem = SigningKey.generate().private_pem.decode()
        return {
            "gateway": gateway(GatewaySettings(signing_key_pem=pem, shared=shared_settings_for_tests())),
            "assessment": assessment(AssessmentSettings(credential_key_pem=pem, shared=shared_settings_for_tests())),
            "catalogue": catalogue(),
            "credit_bank": credit_bank(),
            "incentives": incentives(),
        }
    finally:
        logging.disable(logging.NOTSET)


@pytest.mark.parametrize("name", ["gateway", "assessment", "catalogue", "credit_bank", "incentives"])
def test_every_operation_declares_its_problems(name):
    schema = _apps()[name].openapi()
    assert schema["components"]["schemas"]["Problem"]["required"] == ["type", "title", "status"]
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    operations = [(p, m, op) for p, ops in schema["paths"].items() for m, op in ops.items()]
    assert operations
    for path, method, op in operations:
        declared = op["responses"]
        needed = {"400", "404", "422", "429", "500"}
        if op.get("security"):
            needed |= {"401", "403"}
        if method in ("post", "put", "patch", "delete"):
            needed |= {"409", "413"}
        assert needed <= set(declared), (path, method, sorted(declared))
        for status in needed:
            assert list(declared[status]["content"]) == ["application/problem+json"], (path, method, status)
    public = {p for p, m, op in operations if not op.get("security")}
    secured = {p for p, m, op in operations if op.get("security")}
    assert secured, "no operation declares its bearer token"
    if name == "assessment":
        assert "/v1/verify" in public and "/v1/batches" in secured


router = APIRouter()


@router.get("/raises-400")
async def raises_400() -> dict:
    raise HTTPException(400, "There was an error parsing the body")


async def test_frameworks_own_400_carries_our_problem_type(test_db, signing_key):
    settings = ServiceSettings(
        name="catalogue", database_url=test_db.role_urls["catalogue"], shared=shared_settings_for_tests()
    )
    app = create_service_app(settings, title="t", schema="catalogue", routers=[router], with_feed=False)
    async with app_client(app, test_db.engine("catalogue"), signing_key) as client:
        r = await client.get("/raises-400")
    assert r.status_code == 400
    assert r.json()["type"] == "https://skillpass.sh.gov.cn/problems/bad-request"
