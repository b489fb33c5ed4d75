"""The six processes: names, schemas, default ports and where their app factories live."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProcessSpec:
    name: str  # settings/env name and schema
    path: str  # URL segment under /api/
    port: int
    app: str  # uvicorn factory path

    @property
    def role(self) -> str:
        return f"skillpass_{self.name}"


GATEWAY = ProcessSpec("gateway", "gateway", 8000, "gateway.app:create_app")
SERVICES: tuple[ProcessSpec, ...] = (
    ProcessSpec("catalogue", "catalogue", 8001, "services.catalogue.app:create_app"),
    ProcessSpec("assessment", "assessment", 8002, "services.assessment.app:create_app"),
    ProcessSpec("credit_bank", "credit-bank", 8003, "services.credit_bank.app:create_app"),
    ProcessSpec("incentives", "incentives", 8004, "services.incentives.app:create_app"),
    ProcessSpec("statistics", "statistics", 8005, "services.statistics.app:create_app"),
)
ALL: tuple[ProcessSpec, ...] = (GATEWAY, *SERVICES)
SCHEMAS: tuple[str, ...] = tuple(p.name for p in ALL)
