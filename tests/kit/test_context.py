"""The typed per-service context: installed once by create_app, read back as its own type."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from fastapi import FastAPI

from services.kit.context import context_of, install_context


@dataclass(frozen=True)
class Context:
    limit: int


def test_the_context_reads_back_as_its_type_and_nothing_else():
    app = FastAPI()
    install_context(app, "svc", Context(limit=3))
    assert context_of(app, "svc", Context) == Context(limit=3)
    with pytest.raises(RuntimeError, match=r"app.state.other is not a Context"):
        context_of(app, "other", Context)
    install_context(app, "wrong", {"limit": 3})
    with pytest.raises(RuntimeError, match=r"app.state.wrong is not a Context"):
        context_of(app, "wrong", Context)
