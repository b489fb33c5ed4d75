"""The typed per-service context: what a service's routes need besides the session and the principal.

Each service (and the gateway) declares a frozen ``Context`` dataclass in its ``deps.py`` (its
settings, clients, keys ...), puts one on the app in ``create_app`` with :func:`install_context`,
and reads it in routes through ``ContextDep = Annotated[Context, Depends(get_context)]`` whose
``get_context`` calls :func:`context_of`. Nothing else reads ``app.state``: this is the one
untyped hop, checked here.
"""

from __future__ import annotations

from typing import TypeVar

from starlette.applications import Starlette

C = TypeVar("C")


def install_context(app: Starlette, name: str, context: object) -> None:
    """Puts the service's context on the app as ``app.state.<name>`` (the service's name)."""
    setattr(app.state, name, context)


def context_of(app: Starlette, name: str, kind: type[C]) -> C:
    """The context :func:`install_context` put on the app, as its declared type."""
    context = getattr(app.state, name, None)
    if not isinstance(context, kind):
        raise RuntimeError(f"app.state.{name} is not a {kind.__name__}; build the app with its create_app()")
    return context
