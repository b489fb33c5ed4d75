import os
from typing import Any

import pytest

pytest_plugins = ["tests.support.fixtures"]

# Under pytest-xdist (make test) the longest modules are handed out first (longest first), so that
# no worker is left alone with one at the end while the other core idles. Figures: seconds on an
# idle 2-core machine, serial run. Serial runs keep the collection order.
LONGEST_FIRST = [
    "tests/schemathesis/test_in_process.py",  # ~27 s
    "tests/e2e/test_sync.py",  # ~21 s
    "tests/e2e/test_faults.py",  # ~20 s
    "tests/e2e/test_platform.py",  # ~17 s
    "tests/e2e/test_incentives.py",  # ~15 s
    "tests/browser/test_docs_page.py",  # ~15 s
    "tests/e2e/test_docs_clients.py",  # ~10 s
    "tests/assessment/test_batch_files.py",  # ~10 s
    "tests/dashboard/test_dashboard_browser.py",  # ~8 s
    "tests/browser/test_verify_page.py",  # ~7 s
    "tests/statistics/test_statistics.py",  # ~5 s
    "tests/access/test_access_matrix.py",  # ~4 s
]


# Modules on the session's shared platform (tests/support/fixtures.py::shared_platform): scheduled as
# one unit, so only one worker starts that platform. Checked at collection: a module that uses the
# fixture and is missing here fails the run instead of starting a second platform unnoticed.
SHARED_PLATFORM_MODULES = {
    "tests/browser/test_docs_page.py",
    "tests/browser/test_verify_page.py",
    "tests/e2e/test_docs_clients.py",
    "tests/e2e/test_incentives.py",
    "tests/e2e/test_sync.py",
}


def unit_of(nodeid: str) -> str:
    """make test's unit of work: a module (its module fixtures - a platform of real processes, a
    browser - start once), or all modules on the shared platform together."""
    module = nodeid.split("::", 1)[0]
    return "shared_platform" if module in SHARED_PLATFORM_MODULES else module


@pytest.hookimpl(optionalhook=True)  # a run without xdist (-p no:xdist) does not know the hook
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadscope`` with :func:`unit_of` as the scope. Not ``--dist loadgroup``: with pytest
    9.2 its marks no longer group anything (xdist 3.8 renames ``item._nodeid``, which pytest no
    longer reads), so every test went out alone and a module's platform started on both workers."""
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ModuleScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return unit_of(nodeid)

    return ModuleScheduling(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        module = item.nodeid.split("::", 1)[0]
        if "shared_platform" in getattr(item, "fixturenames", ()) and module not in SHARED_PLATFORM_MODULES:
            raise pytest.UsageError(f"{module} uses shared_platform: add it to SHARED_PLATFORM_MODULES")
    if os.environ.get("PYTEST_XDIST_WORKER"):
        rank = {path: n for n, path in enumerate(LONGEST_FIRST)}
        items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(LONGEST_FIRST)))
