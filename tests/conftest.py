import os

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


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the xdist_group marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    rank = {path: n for n, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(LONGEST_FIRST)))
    # make test's --dist loadgroup: a module is one unit of work (its module fixtures start once), and
    # every module on the session's shared platform is one unit, so only one worker starts that platform.
    for item in items:
        shared = "shared_platform" in getattr(item, "fixturenames", ())
        item.add_marker(pytest.mark.xdist_group("shared_platform" if shared else item.nodeid.split("::")[0]))
