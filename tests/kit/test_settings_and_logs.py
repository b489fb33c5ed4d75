"""Settings refuse placeholder secrets outside dev; every log line is JSON with the request id;
readiness is 503 when the schema is not at head; the gateway answers CORS from settings."""

import json
import logging

import pytest
from pydantic import ValidationError

from services.kit.app import create_service_app
from services.kit.obs import JsonFormatter, request_id_var
from services.kit.settings import DEV_PLACEHOLDER, ServiceSettings, SharedSettings
from tests.support.fixtures import app_client, shared_settings_for_tests


@pytest.mark.parametrize("env", ["test", "prod"])
def test_placeholder_secrets_are_refused_outside_dev(env):
    with pytest.raises(ValidationError, match="SKILLPASS_LEARNER_ID_KEY"):
        SharedSettings(env=env, learner_id_key=DEV_PLACEHOLDER, pii_key="x" * 40)
    with pytest.raises(ValidationError, match="SKILLPASS_PII_KEY"):
        SharedSettings(env=env, learner_id_key="x" * 40, pii_key="short")
    shared = SharedSettings(env=env, learner_id_key="x" * 40, pii_key="y" * 40)
    with pytest.raises(ValidationError, match="dev placeholder"):
        ServiceSettings(database_url="postgresql+asyncpg://r:dev@h/db", shared=shared)


def test_dev_accepts_placeholders():
    assert SharedSettings(env="dev").pii_key == DEV_PLACEHOLDER


def test_log_lines_are_json_with_the_request_id():
    record = logging.LogRecord("skillpass.x", logging.INFO, __file__, 1, "batch %s stored", ("b-1",), None)
    token = request_id_var.set("rid-7")
    try:
        line = json.loads(JsonFormatter("assessment").format(record))
    finally:
        request_id_var.reset(token)
    assert (line["request_id"], line["service"], line["msg"], line["level"]) == (
        "rid-7",
        "assessment",
        "batch b-1 stored",
        "INFO",
    )


async def test_readyz_is_503_when_the_schema_is_behind(test_db, signing_key):
    settings = ServiceSettings(
        name="catalogue", database_url=test_db.role_urls["catalogue"], shared=shared_settings_for_tests()
    )
    app = create_service_app(settings, title="t", schema="catalogue", routers=[])
    async with app_client(app, test_db.engine("catalogue"), signing_key) as client:
        app.state.schema_head = "some_future_revision"
        r = await client.get("/readyz")
    assert r.status_code == 503
    assert r.json()["head"] == "some_future_revision" and r.json()["database"] == "ok"


async def test_gateway_answers_cors_preflight_from_settings(test_db, signing_key):
    from gateway.app import create_app
    from gateway.settings import GatewaySettings

    app = create_app(
        GatewaySettings(
            database_url=test_db.role_urls["gateway"],
            shared=shared_settings_for_tests(),
            signing_key_pem=signing_key.private_pem.decode(),
            cors_origins=["https://app.example.cn"],
        )
    )
    async with app_client(app, test_db.engine("gateway"), signing_key) as client:
        ok = await client.options(
            "/api/catalogue/v1/occupations",
            headers={
                "Origin": "https://app.example.cn",
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "Authorization",
            },
        )
        other = await client.options(
            "/api/catalogue/v1/occupations",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
        )
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "https://app.example.cn"
    assert "access-control-allow-origin" not in other.headers
