"""Contract paths that live in another service than the one API.md lists them under.

API.md (binding) lists the bureau's statistics and effect evaluation under incentives
(``/api/incentives/v1/statistics/{view}``, ``/api/incentives/v1/effects``); they are computed by
the statistics service, which also answers them at ``/api/statistics/v1/...``. The proxy sends
those incentives paths to statistics unchanged below ``v1/``: the same token check, rate limit,
tenancy (the statistics service's) and formats (JSON, CSV, XLSX) as the statistics paths.
"""

from __future__ import annotations

# (listed under, path below the service root or a prefix ending in "/") → the service that serves it
ALIASES: dict[str, tuple[str, tuple[str, ...]]] = {
    "incentives": ("statistics", ("v1/effects", "v1/statistics/")),
}


def route(service: str, rest: str) -> str:
    """The service that answers ``/api/<service>/<rest>`` (``rest`` already normalised)."""
    alias = ALIASES.get(service)
    if alias is not None:
        target, paths = alias
        for path in paths:
            exact = not path.endswith("/")
            if (exact and rest == path) or (not exact and rest.startswith(path) and len(rest) > len(path)):
                return target
    return service
