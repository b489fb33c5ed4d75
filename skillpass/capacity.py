"""Connection budget: every replica's pool at its peak must fit under what the database accepts.

Each process holds up to ``db_pool_size + db_max_overflow`` connections per replica, and the
HorizontalPodAutoscaler may run up to ``maxReplicas`` of it. In Kubernetes the processes talk to
PgBouncer (the CloudNativePG ``Pooler``) in transaction mode, so two limits apply:

- clients: the sum over processes of max replicas × (pool + overflow), plus headroom, must stay
  under PgBouncer's ``max_client_conn`` × pooler instances;
- server: pooler instances × ``default_pool_size`` × one pool per role (one role per process),
  plus headroom for the migration job, admins and monitoring, must stay under PostgreSQL's
  ``max_connections``.

Without a pooler (docker compose, a single machine) the first sum must stay under
``max_connections`` itself.

The functions here are pure; :func:`read_k8s_budget` reads the figures from the kustomize
manifests (``deploy/k8s/base`` or an overlay). The CLI calls it as::

    from skillpass.capacity import read_k8s_budget
    for budget in read_k8s_budget("deploy/k8s/overlays/example"):
        print(budget.report())
    exit_code = 0 if all(b.ok for b in budgets) else 1

and a process can warn at start-up with :func:`check_budget` on its own figures.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .registry import ALL

# Admin sessions, the migration job, monitoring and replication take connections too.
DEFAULT_HEADROOM = 10
REPO_ROOT = Path(__file__).resolve().parents[1]
K8S_BASE = REPO_ROOT / "deploy" / "k8s" / "base"
# PgBouncer's own defaults, used when the Pooler does not set them.
PGBOUNCER_DEFAULT_POOL_SIZE = 20
PGBOUNCER_DEFAULT_MAX_CLIENT_CONN = 100
POSTGRES_DEFAULT_MAX_CONNECTIONS = 100


@dataclass(frozen=True)
class ProcessPool:
    """One process's connection pool and how far it may scale out."""

    name: str
    max_replicas: int
    pool_size: int
    max_overflow: int

    @property
    def per_replica(self) -> int:
        return self.pool_size + self.max_overflow

    @property
    def peak(self) -> int:
        return self.max_replicas * self.per_replica


@dataclass(frozen=True)
class Budget:
    """Demand (peak connections plus headroom) against one limit."""

    limit_name: str
    limit: int
    demand_by_source: tuple[tuple[str, int], ...]
    headroom: int

    @property
    def demand(self) -> int:
        return sum(n for _, n in self.demand_by_source) + self.headroom

    @property
    def ok(self) -> bool:
        return self.demand <= self.limit

    def report(self) -> str:
        parts = " + ".join(f"{name}={n}" for name, n in self.demand_by_source)
        verdict = "ok" if self.ok else "OVER"
        return f"{self.limit_name}: {parts} + headroom {self.headroom} = {self.demand} of {self.limit} ({verdict})"


def check_budget(
    pools: Iterable[ProcessPool], *, limit: int, headroom: int = DEFAULT_HEADROOM, limit_name: str = "max_connections"
) -> Budget:
    """Sum over processes of max replicas × (pool size + max overflow), plus headroom, ≤ limit."""
    pools = tuple(pools)
    for p in pools:
        if min(p.max_replicas, p.pool_size, p.max_overflow) < 0:
            raise ValueError(f"{p.name}: replicas and pool sizes must not be negative")
    demand = tuple((f"{p.name} {p.max_replicas}×{p.per_replica}", p.peak) for p in pools)
    return Budget(limit_name, limit, demand, headroom)


def check_pooler_server_side(
    *, instances: int, default_pool_size: int, roles: int, max_connections: int, headroom: int = DEFAULT_HEADROOM
) -> Budget:
    """PgBouncer opens up to ``default_pool_size`` server connections per (database, role) pair,
    in each pooler instance; with one database and one role per process that is
    instances × default_pool_size × roles."""
    demand = instances * default_pool_size * roles
    return Budget(
        "postgres max_connections (behind the pooler)",
        max_connections,
        ((f"pooler {instances}×{default_pool_size}×{roles} roles", demand),),
        headroom,
    )


# --- reading the figures from kustomize manifests --------------------------------------------


def load_yaml_documents(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [doc for doc in yaml.safe_load_all(f) if doc]


def _merge(base: Any, patch: Any) -> Any:
    """A small strategic merge: maps merge, lists of named maps merge by name, other lists and
    scalars are replaced. Enough for the patches our overlays use."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            out[key] = _merge(base[key], value) if key in base else copy.deepcopy(value)
        return out
    if (
        isinstance(base, list)
        and isinstance(patch, list)
        and base
        and patch
        and all(isinstance(x, dict) and "name" in x for x in (*base, *patch))
    ):
        merged = {x["name"]: x for x in base}
        for item in patch:
            merged[item["name"]] = _merge(merged[item["name"]], item) if item["name"] in merged else item
        return list(merged.values())
    return copy.deepcopy(patch)


def _matches(doc: Mapping[str, Any], kind: str | None, name: str | None) -> bool:
    return (kind is None or doc.get("kind") == kind) and (name is None or doc["metadata"]["name"] == name)


def _apply_patch(docs: list[dict[str, Any]], patch: dict[str, Any], target: Mapping[str, Any] | None) -> None:
    kind = (target or {}).get("kind", patch.get("kind"))
    name = (target or {}).get("name", (patch.get("metadata") or {}).get("name"))
    hits = [i for i, d in enumerate(docs) if _matches(d, kind, name)]
    if not hits:
        raise ValueError(f"patch matches no resource: kind={kind} name={name}")
    for i in hits:
        docs[i] = _merge(docs[i], {k: v for k, v in patch.items() if k not in ("apiVersion", "kind")})


def _generated_secrets(kustomization: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    for gen in kustomization.get("secretGenerator", []):
        data = dict(item.split("=", 1) for item in gen.get("literals", []))
        yield {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": gen["name"]},
            "type": gen.get("type", "Opaque"),
            "stringData": data,
        }


def render_kustomization(directory: Path | str) -> list[dict[str, Any]]:
    """Renders a kustomization the way ``kubectl kustomize`` would for the features we use:
    resources (files and directories), patches with a path and optional target, namespace,
    images and secretGenerator (without the name hash, so references resolve as written)."""
    directory = Path(directory)
    kustomization = load_yaml_documents(directory / "kustomization.yaml")[0]
    docs: list[dict[str, Any]] = []
    for resource in kustomization.get("resources", []):
        path = directory / resource
        docs.extend(render_kustomization(path) if path.is_dir() else load_yaml_documents(path))
    docs.extend(_generated_secrets(kustomization))
    for patch in kustomization.get("patches", []):
        for doc in load_yaml_documents(directory / patch["path"]):
            _apply_patch(docs, doc, patch.get("target"))
    images = {i["name"]: i for i in kustomization.get("images", [])}
    for doc in docs:
        if "namespace" in kustomization:
            doc["metadata"]["namespace"] = kustomization["namespace"]
        for container in _containers(doc):
            _retag(container, images)
    return docs


def _retag(container: dict[str, Any], images: Mapping[str, Mapping[str, str]]) -> None:
    name, _, _tag = container["image"].partition(":")
    if name in images:
        rule = images[name]
        container["image"] = f"{rule.get('newName', name)}:{rule.get('newTag', _tag or 'latest')}"


def _pod_spec(doc: Mapping[str, Any]) -> Mapping[str, Any] | None:
    if doc.get("kind") in ("Deployment", "Job"):
        return doc["spec"]["template"]["spec"]  # type: ignore[no-any-return]
    return None


def _containers(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    spec = _pod_spec(doc)
    return [*spec.get("initContainers", []), *spec["containers"]] if spec else []


def container_env(doc: Mapping[str, Any], docs: Iterable[Mapping[str, Any]]) -> dict[str, str | None]:
    """The first container's environment: ConfigMap ``envFrom`` keys, then ``env`` literals
    (None for values taken from a Secret or a field)."""
    configmaps = {d["metadata"]["name"]: d.get("data", {}) for d in docs if d.get("kind") == "ConfigMap"}
    container = _containers(doc)[-1]
    env: dict[str, str | None] = {}
    for source in container.get("envFrom", []):
        ref = source.get("configMapRef")
        if ref:
            env.update(configmaps.get(ref["name"], {}))
    for item in container.get("env", []):
        env[item["name"]] = item.get("value")
    return env


def _hpa_max_replicas(docs: list[dict[str, Any]]) -> dict[str, int]:
    return {
        d["spec"]["scaleTargetRef"]["name"]: int(d["spec"]["maxReplicas"])
        for d in docs
        if d.get("kind") == "HorizontalPodAutoscaler" and d["spec"]["scaleTargetRef"]["kind"] == "Deployment"
    }


def process_pools(docs: list[dict[str, Any]]) -> list[ProcessPool]:
    """One ProcessPool per Deployment that runs a registered process (``skillpass serve <name>``)."""
    from services.kit.settings import ServiceSettings

    fields = ServiceSettings.model_fields
    hpa = _hpa_max_replicas(docs)
    pools = []
    for doc in docs:
        if doc.get("kind") != "Deployment":
            continue
        process = process_of(doc)
        if process is None:
            continue
        env = container_env(doc, docs)
        prefix = f"SKILLPASS_{process.upper()}_"
        pool = env.get(prefix + "DB_POOL_SIZE") or fields["db_pool_size"].default
        overflow = env.get(prefix + "DB_MAX_OVERFLOW") or fields["db_max_overflow"].default
        replicas = hpa.get(doc["metadata"]["name"], doc["spec"].get("replicas", 1))
        pools.append(ProcessPool(process, int(replicas), int(pool), int(overflow)))
    return pools


def process_of(doc: Mapping[str, Any]) -> str | None:
    """The registered process a Deployment serves, from its ``skillpass serve <name>`` command."""
    names = {p.name for p in ALL}
    for container in _containers(doc):
        command = [*container.get("command", []), *container.get("args", [])]
        if command[-2:-1] == ["serve"] and command[-1] in names:
            return str(command[-1])
    return None


def _first(docs: list[dict[str, Any]], kind: str) -> dict[str, Any] | None:
    return next((d for d in docs if d.get("kind") == kind), None)


def read_k8s_budget(directory: Path | str = K8S_BASE, *, headroom: int = DEFAULT_HEADROOM) -> list[Budget]:
    """The budgets the manifests imply: against the pooler's client limit and the server's
    ``max_connections`` when a CloudNativePG Pooler is present, else against the server."""
    docs = render_kustomization(directory)
    pools = process_pools(docs)
    cluster = _first(docs, "Cluster")
    params = (cluster or {}).get("spec", {}).get("postgresql", {}).get("parameters", {})
    max_connections = int(params.get("max_connections", POSTGRES_DEFAULT_MAX_CONNECTIONS))
    pooler = _first(docs, "Pooler")
    if pooler is None:
        return [check_budget(pools, limit=max_connections, headroom=headroom)]
    instances = int(pooler["spec"].get("instances", 1))
    bouncer = pooler["spec"]["pgbouncer"].get("parameters", {})
    max_client = int(bouncer.get("max_client_conn", PGBOUNCER_DEFAULT_MAX_CLIENT_CONN))
    pool_size = int(bouncer.get("default_pool_size", PGBOUNCER_DEFAULT_POOL_SIZE))
    return [
        check_budget(
            pools,
            limit=instances * max_client,
            headroom=headroom,
            limit_name=f"pgbouncer max_client_conn ({instances}×{max_client})",
        ),
        check_pooler_server_side(
            instances=instances,
            default_pool_size=pool_size,
            roles=len(pools),
            max_connections=max_connections,
            headroom=headroom,
        ),
    ]
