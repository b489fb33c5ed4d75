"""The connection budget: pure arithmetic, and the figures read from the kustomize manifests."""

import copy
from pathlib import Path

import pytest
import yaml

from skillpass import capacity
from skillpass.capacity import ProcessPool, check_budget, check_pooler_server_side, read_k8s_budget
from skillpass.registry import ALL

BASE = capacity.K8S_BASE
OVERLAY = BASE.parent / "overlays" / "example"


def test_budget_sums_replicas_times_pool_plus_overflow_and_headroom():
    budget = check_budget([ProcessPool("a", 3, 5, 5), ProcessPool("b", 2, 4, 1)], limit=100, headroom=10)
    assert budget.demand == 3 * 10 + 2 * 5 + 10
    assert budget.ok
    assert budget.report() == "max_connections: a 3×10=30 + b 2×5=10 + headroom 10 = 50 of 100 (ok)"


def test_budget_at_the_limit_is_ok_and_one_over_is_not():
    assert check_budget([ProcessPool("a", 9, 5, 5)], limit=100, headroom=10).ok
    over = check_budget([ProcessPool("a", 9, 5, 5)], limit=99, headroom=10)
    assert not over.ok
    assert over.report().endswith("= 100 of 99 (OVER)")


def test_negative_figures_are_refused():
    with pytest.raises(ValueError, match="must not be negative"):
        check_budget([ProcessPool("a", -1, 5, 5)], limit=100)


def test_pooler_server_side_is_instances_times_pool_times_roles():
    budget = check_pooler_server_side(instances=2, default_pool_size=15, roles=5, max_connections=160, headroom=10)
    assert budget.demand == 160
    assert budget.ok
    assert not check_pooler_server_side(instances=3, default_pool_size=15, roles=5, max_connections=160).ok


def test_base_manifests_fit_their_budget_and_cover_every_process():
    budgets = read_k8s_budget(BASE)
    assert [b.limit_name for b in budgets] == [
        "pgbouncer max_client_conn (2×500)",
        "postgres max_connections (behind the pooler)",
    ]
    assert all(b.ok for b in budgets), [b.report() for b in budgets]
    clients = dict(budgets[0].demand_by_source)
    assert clients == {
        f"{p.name} {6 if p.name == 'gateway' else 4}×10": (60 if p.name == "gateway" else 40) for p in ALL
    }
    assert budgets[1].limit == 200


def test_overlay_patches_are_seen_by_the_budget():
    clients = dict(read_k8s_budget(OVERLAY)[0].demand_by_source)
    assert clients["gateway 8×10"] == 80


def _copy_base(tmp_path: Path) -> Path:
    target = tmp_path / "base"
    target.mkdir()
    for f in BASE.glob("*.yaml"):
        (target / f.name).write_text(f.read_text())
    return target


def _rewrite(path: Path, kind: str, change) -> None:
    docs = list(yaml.safe_load_all(path.read_text()))
    for doc in docs:
        if doc["kind"] == kind:
            change(doc)
    path.write_text(yaml.safe_dump_all(docs))


def test_raising_max_replicas_past_the_pooler_limit_fails(tmp_path):
    base = _copy_base(tmp_path)
    _rewrite(base / "catalogue.yaml", "HorizontalPodAutoscaler", lambda d: d["spec"].update(maxReplicas=100))
    budgets = read_k8s_budget(base)
    assert not budgets[0].ok
    assert "catalogue 100×10=1000" in budgets[0].report()


def test_without_a_pooler_the_server_limit_applies_to_the_pools(tmp_path):
    base = _copy_base(tmp_path)
    docs = [d for d in yaml.safe_load_all((base / "postgres.yaml").read_text()) if d["kind"] != "Pooler"]
    (base / "postgres.yaml").write_text(yaml.safe_dump_all(docs))
    (budget,) = read_k8s_budget(base)
    assert budget.limit_name == "max_connections"
    assert budget.limit == 200
    assert budget.demand == 60 + (len(ALL) - 1) * 40 + capacity.DEFAULT_HEADROOM
    assert not budget.ok


def test_pool_size_comes_from_the_deployment_env(tmp_path):
    base = _copy_base(tmp_path)

    def bigger_pool(doc):
        for item in doc["spec"]["template"]["spec"]["containers"][0]["env"]:
            if item["name"] == "SKILLPASS_INCENTIVES_DB_POOL_SIZE":
                item["value"] = "20"

    _rewrite(base / "incentives.yaml", "Deployment", bigger_pool)
    clients = dict(read_k8s_budget(base)[0].demand_by_source)
    assert clients["incentives 4×25"] == 100


def test_merge_merges_named_lists_by_name_and_replaces_others():
    base = {"a": {"x": 1, "y": [1, 2]}, "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}
    patch = {"a": {"y": [3]}, "env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}]}
    before = copy.deepcopy(base)
    merged = capacity._merge(base, patch)
    assert merged == {
        "a": {"x": 1, "y": [3]},
        "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}, {"name": "C", "value": "4"}],
    }
    assert base == before
