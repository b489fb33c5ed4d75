"""Catalogue tables (schema ``catalogue``)."""

from __future__ import annotations

from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from services.kit.db import service_metadata
from services.kit.feed import outbox_tables
from services.kit.idempotency import idempotency_table

SCHEMA = "catalogue"
metadata = service_metadata(SCHEMA)
events_table, events_horizon_table = outbox_tables(metadata)
idempotency_keys_table = idempotency_table(metadata)


class CatalogueTable(SQLModel, registry=registry(metadata=metadata)):
    pass


class Occupation(CatalogueTable, table=True):
    __tablename__ = "occupations"

    classification: str = Field(default="2022", primary_key=True, max_length=10)
    code: str = Field(primary_key=True, max_length=11)
    name: str = Field(max_length=100)
    major: str = Field(max_length=1)
    middle: str = Field(max_length=4)
    minor: str = Field(max_length=7)
