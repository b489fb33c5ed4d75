from __future__ import annotations

import httpx
from fastapi import FastAPI

from services.kit.app import create_service_app
from services.kit.auth import SigningKey
from services.kit.context import install_context
from services.kit.http import service_client
from services.kit.pii import Sealer
from services.kit.ratelimit import PostgresTokenBuckets, TokenBucketLimiter

from .api import router
from .api_certificates import router as certificates_router
from .api_credentials import router as credentials_router
from .clients import CatalogueClient, CreditBankClient
from .deps import NAME, Context
from .keys import KeyRing
from .settings import AssessmentSettings


def credential_key(settings: AssessmentSettings) -> SigningKey:
    """The first credential key: from the environment, or a file made on first start."""
    if settings.credential_key_pem:
        return SigningKey.from_pem(settings.credential_key_pem.encode())
    return SigningKey.load_or_create(settings.credential_key_path)


def credential_keys(settings: AssessmentSettings) -> KeyRing:
    """The first key and the rotation's others (``credential_keys``)."""
    return KeyRing.build(credential_key(settings), settings.credential_keys)


def create_app(
    settings: AssessmentSettings | None = None,
    *,
    catalogue_transport: httpx.AsyncBaseTransport | None = None,
    credit_bank_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """The transports let tests answer the catalogue and the credit bank with ``httpx.MockTransport``."""
    settings = settings or AssessmentSettings()
    catalogue = CatalogueClient(
        service_client(settings, "catalogue", settings.catalogue_url, transport=catalogue_transport),
        cache_ttl_s=settings.catalogue_cache_ttl_s,
    )
    credit_bank = CreditBankClient(
        service_client(settings, "credit-bank", settings.credit_bank_url, transport=credit_bank_transport)
    )

    async def shutdown(_: FastAPI) -> None:
        await catalogue.aclose()
        await credit_bank.aclose()

    app = create_service_app(
        settings,
        title="skillpass assessment",
        schema="assessment",
        routers=[router, certificates_router, credentials_router],
        on_shutdown=shutdown,
        description="Filed assessment bodies, batch results, certificates, verification.",
    )
    context = Context(
        settings=settings,
        catalogue=catalogue,
        credit_bank=credit_bank,
        sealer=Sealer(settings.shared.pii_key),
        # Per client address, in PostgreSQL: the limit holds across every replica (issue 11).
        verify_limiter=(
            PostgresTokenBuckets(
                lambda: app.state.sessionmaker, "assessment", settings.verify_rate_per_s, settings.verify_burst
            )
            if settings.verify_rate_limit_store == "postgres"
            else TokenBucketLimiter(settings.verify_rate_per_s, settings.verify_burst)
        ),
        credential_keys=credential_keys(settings),
    )
    install_context(app, NAME, context)
    return app
