"""Every path API.md lists under "Incentives" (``/api/incentives/v1``) answers at that path: the
gateway sends it to incentives, or (statistics, effects) to the statistics service, and the service
it reaches has that operation. The whole round trip through the gateway is in
tests/statistics/test_statistics.py::test_the_contract_paths_through_the_gateway."""

from __future__ import annotations

import re

import pytest

from gateway import aliases
from gateway.proxy import normalise
from tests.support.fixtures import shared_settings_for_tests

# API.md "Incentives — /api/incentives/v1", row by row (a "…" row repeats the path before it),
# and the payment of an approved claim added with issue 16.
API_MD_INCENTIVES = [
    ("GET", "/rulesets"),
    ("POST", "/rulesets"),
    ("POST", "/rulesets/{id}/publish"),
    ("POST", "/points/evaluate"),
    ("POST", "/points/simulate"),
    ("GET", "/points/evaluations"),
    ("POST", "/points/evaluations/{id}/rerun"),
    ("POST", "/subsidy-claims"),
    ("POST", "/subsidy-claims/{id}/decision"),
    ("GET", "/subsidy-claims"),
    ("GET", "/universities/{org}/performance"),
    ("GET", "/performance/rankings"),
    ("POST", "/performance/allocations"),
    ("GET", "/performance/allocations"),
    ("GET", "/statistics/{view}"),
    ("GET", "/effects"),
    ("POST", "/district-funding/calculations"),
    ("GET", "/district-funding/calculations"),
    ("GET", "/events"),
    ("POST", "/subsidy-claims/{id}/payment"),
]


def _operations() -> dict[str, set[tuple[str, str]]]:
    """(method, path with parameters as ``{}``) of each service's OpenAPI; building an app connects to nothing."""
    from services.incentives.app import create_app as incentives
    from services.incentives.settings import IncentivesSettings
    from services.statistics.app import create_app as statistics
    from services.statistics.settings import StatisticsSettings

    url = "postgresql+asyncpg://nobody@127.0.0.1:9/none"
    apps = {
        "incentives": incentives(IncentivesSettings(database_url=url, shared=shared_settings_for_tests())),
        "statistics": statistics(StatisticsSettings(database_url=url, shared=shared_settings_for_tests()), poll=False),
    }
    return {
        name: {
            (method.upper(), re.sub(r"\{[^}]+\}", "{}", path))
            for path, ops in app.openapi()["paths"].items()
            for method in ops
        }
        for name, app in apps.items()
    }


def test_every_incentives_path_of_the_contract_is_served_where_the_gateway_sends_it() -> None:
    operations = _operations()
    missing = []
    for method, path in API_MD_INCENTIVES:
        concrete = "v1" + re.sub(r"\{[^}]+\}", "x", path)  # as a client would call it
        service = aliases.route("incentives", concrete)
        if (method, "/v1" + re.sub(r"\{[^}]+\}", "{}", path)) not in operations[service]:
            missing.append((method, path, service))
    assert missing == []


@pytest.mark.parametrize(
    ("rest", "service"),
    [
        ("v1/statistics/certificates", "statistics"),
        ("v1/effects", "statistics"),
        ("v1/statistics", "incentives"),  # no view: not the contract's path
        ("v1/statistics/", "incentives"),
        ("v1/effectsx", "incentives"),
        ("v1/effects/1", "incentives"),
        ("v1/subsidy-claims", "incentives"),
        ("v1/events", "incentives"),  # incentives' own feed, not the statistics service's
        (normalise("v1/statistics/../subsidy-claims"), "incentives"),  # normalised before routing
        (normalise("v1/points/../statistics/points"), "statistics"),
    ],
)
def test_only_the_listed_paths_are_sent_to_statistics(rest: str, service: str) -> None:
    assert aliases.route("incentives", rest) == service


def test_other_services_are_not_aliased() -> None:
    assert aliases.route("statistics", "v1/effects") == "statistics"
    assert aliases.route("catalogue", "v1/statistics/certificates") == "catalogue"
