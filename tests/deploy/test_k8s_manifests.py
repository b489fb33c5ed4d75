"""Kubernetes manifests: valid against the Kubernetes schemas, and in step with the code."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from skillpass.capacity import K8S_BASE, container_env, load_yaml_documents, process_of, render_kustomization
from skillpass.registry import ALL

K8S_VERSION = "1.31.0"
OVERLAY = K8S_BASE.parent / "overlays" / "example"
CNPG_KINDS = {"Cluster", "Pooler", "ScheduledBackup"}
# Made by CloudNativePG (enableSuperuserAccess) or by the cluster's TLS setup, not by us.
EXTERNAL_SECRETS = {"skillpass-db-superuser", "skillpass-tls"}
POOLER_HOST = "skillpass-db-pooler-rw"


def _manifest_files() -> list[Path]:
    return sorted(
        p for p in (K8S_BASE.parent).rglob("*.yaml") if p.name != "kustomization.yaml" and "patches" not in p.parts
    )


BASE = render_kustomization(K8S_BASE)
RENDERED = render_kustomization(OVERLAY)


def _by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def _deployment(docs: list[dict[str, Any]], path: str) -> dict[str, Any]:
    return _by_kind(docs, "Deployment")[f"skillpass-{path}"]


def _container(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["spec"]["template"]["spec"]["containers"][0]


# --- schemas ---------------------------------------------------------------------------------


def _validate(doc: dict[str, Any]) -> None:
    if doc["kind"] in CNPG_KINDS:
        _check_cnpg(doc)
    else:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


@pytest.mark.parametrize("path", _manifest_files(), ids=lambda p: str(p.relative_to(K8S_BASE.parent)))
def test_every_manifest_file_is_valid(path):
    docs = load_yaml_documents(path)
    assert docs, f"{path} is empty"
    for doc in docs:
        _validate(doc)


def test_the_rendered_overlay_is_valid_and_names_are_unique():
    seen = set()
    for doc in RENDERED:
        _validate(doc)
        key = (doc["kind"], doc["metadata"]["name"])
        assert key not in seen, f"duplicate {key}"
        seen.add(key)
        assert doc["metadata"]["namespace"] == "skillpass"


def test_schema_validation_catches_a_broken_manifest():
    broken = _deployment(BASE, "catalogue")
    broken = {**broken, "spec": {**broken["spec"], "replicas": "two"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def _check_cnpg(doc: dict[str, Any]) -> None:
    """CloudNativePG kinds are not in the Kubernetes schema: check the fields we rely on."""
    assert doc["apiVersion"] == "postgresql.cnpg.io/v1"
    spec = doc["spec"]
    if doc["kind"] == "Cluster":
        assert spec["instances"] == 3, "primary + 2 replicas"
        assert re.fullmatch(r"\d+[MG]i", spec["storage"]["size"])
        params = spec["postgresql"]["parameters"]
        assert all(isinstance(v, str) for v in params.values()), "CNPG parameters are strings"
        assert int(params["max_connections"]) > 0
        assert spec["bootstrap"]["initdb"]["database"] == "skillpass"
    elif doc["kind"] == "Pooler":
        assert spec["cluster"]["name"] == "skillpass-db"
        assert spec["type"] == "rw"
        assert spec["instances"] >= 2
        assert spec["pgbouncer"]["poolMode"] == "transaction"
        assert all(isinstance(v, str) for v in spec["pgbouncer"]["parameters"].values())
    else:
        assert spec["cluster"]["name"] == "skillpass-db"
        assert len(spec["schedule"].split()) == 6, "CNPG schedules have a seconds field"


def test_postgres_is_a_cnpg_cluster_with_two_replicas_and_a_transaction_pooler():
    clusters, poolers = _by_kind(RENDERED, "Cluster"), _by_kind(RENDERED, "Pooler")
    assert list(clusters) == ["skillpass-db"]
    assert clusters["skillpass-db"]["spec"]["instances"] == 3
    assert list(poolers) == [POOLER_HOST]


# --- in step with the code -------------------------------------------------------------------


@pytest.mark.parametrize("spec", ALL, ids=lambda p: p.name)
def test_every_process_has_a_deployment_service_hpa_and_pdb(spec, processes):
    deployment = _deployment(RENDERED, spec.path)
    assert process_of(deployment) == spec.name
    assert _container(deployment)["command"] == ["skillpass", "serve", spec.name]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    service = _by_kind(RENDERED, "Service")[f"skillpass-{spec.path}"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    hpa = _by_kind(RENDERED, "HorizontalPodAutoscaler")[f"skillpass-{spec.path}"]
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    assert hpa["spec"]["minReplicas"] >= 2, "a PDB with minAvailable 1 needs two replicas to drain a node"
    pdb = _by_kind(RENDERED, "PodDisruptionBudget")[f"skillpass-{spec.path}"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


def test_no_deployment_serves_an_unknown_process():
    served = [process_of(d) or d["metadata"]["name"] for d in _by_kind(RENDERED, "Deployment").values()]
    assert sorted(served) == sorted(p.name for p in ALL)


@pytest.mark.parametrize("spec", ALL, ids=lambda p: p.name)
def test_ports_match_the_registry_and_the_settings(spec, settings_classes):
    container = _container(_deployment(RENDERED, spec.path))
    env = container_env(_deployment(RENDERED, spec.path), RENDERED)
    prefix = f"SKILLPASS_{spec.name.upper()}_"
    assert settings_classes[spec.name].model_fields["port"].default == spec.port
    assert container["ports"] == [{"name": "http", "containerPort": spec.port, "protocol": "TCP"}]
    assert env[prefix + "PORT"] == str(spec.port)
    assert env[prefix + "HOST"] == "0.0.0.0"
    service = _by_kind(RENDERED, "Service")[f"skillpass-{spec.path}"]
    assert service["spec"]["ports"] == [{"name": "http", "port": spec.port, "targetPort": "http", "protocol": "TCP"}]


def _workloads() -> list[dict[str, Any]]:
    return [d for d in RENDERED if d["kind"] in ("Deployment", "Job")]


def test_every_skillpass_variable_is_a_settings_field(env_names, migrate_env):
    for doc in _workloads():
        process = process_of(doc)
        allowed = env_names.for_process(process) if process else env_names.shared | migrate_env
        names = {n for n in container_env(doc, RENDERED) if n.startswith("SKILLPASS_")}
        unknown = names - allowed
        assert not unknown, f"{doc['metadata']['name']} sets variables no settings reads: {sorted(unknown)}"


def test_the_config_map_holds_only_shared_settings(env_names):
    (config,) = _by_kind(RENDERED, "ConfigMap").values()
    assert set(config["data"]) <= env_names.shared


def _expand(value: str, env: dict[str, str]) -> str:
    return re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], value)


def _resolved_env(doc: dict[str, Any]) -> dict[str, str]:
    """The container's environment as the process would see it, secrets replaced by stand-ins."""
    secrets = {d["metadata"]["name"]: d for d in RENDERED if d["kind"] == "Secret"}
    env: dict[str, str] = {}
    for item in _container(doc).get("envFrom", []):
        env.update(_by_kind(RENDERED, "ConfigMap")[item["configMapRef"]["name"]]["data"])
    for item in _container(doc).get("env", []):
        if "value" in item:
            env[item["name"]] = _expand(item["value"], env)
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            assert ref["name"] in secrets or ref["name"] in EXTERNAL_SECRETS, f"no Secret {ref['name']}"
            if ref["name"] in secrets:
                keys = secrets[ref["name"]]["stringData"]
                assert ref["key"] in keys, f"no key {ref['key']} in {ref['name']}"
            env[item["name"]] = "stand-in-secret-" + "x" * 32
    return env


@pytest.mark.parametrize("spec", ALL, ids=lambda p: p.name)
def test_settings_load_from_the_deployment_env(spec, settings_classes, monkeypatch):
    env = _resolved_env(_deployment(RENDERED, spec.path))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    if spec.name == "gateway":
        monkeypatch.delenv("SKILLPASS_GATEWAY_SIGNING_KEY_PEM")  # a stand-in is not a PEM
    settings = settings_classes[spec.name]()
    assert settings.shared.env == "prod"
    assert settings.port == spec.port
    assert settings.host == "0.0.0.0"
    assert not settings.db_statement_cache, "PgBouncer in transaction mode cannot keep prepared statements"
    assert f"@{POOLER_HOST}:5432/skillpass" in settings.database_url
    assert settings.database_url.startswith(f"postgresql+asyncpg://{spec.role}:")


def test_gateway_upstreams_and_token_urls_point_at_the_services(settings_classes, monkeypatch):
    for doc in (_deployment(RENDERED, "gateway"), _deployment(RENDERED, "catalogue")):
        for name, value in _resolved_env(doc).items():
            monkeypatch.setenv(name, value)
    monkeypatch.delenv("SKILLPASS_GATEWAY_SIGNING_KEY_PEM")
    gateway = settings_classes["gateway"]()
    expected = {p.path: f"http://skillpass-{p.path}:{p.port}" for p in ALL if p.name != "gateway"}
    assert gateway.upstreams() == expected
    assert gateway.shared.jwks_url == "http://skillpass-gateway:8000/.well-known/jwks.json"
    assert gateway.shared.token_url == "http://skillpass-gateway:8000/auth/token"


def test_token_and_jwks_urls_are_gateway_routes(routes):
    (config,) = _by_kind(RENDERED, "ConfigMap").values()
    for key in ("SKILLPASS_JWKS_URL", "SKILLPASS_TOKEN_URL"):
        path = "/" + config["data"][key].split("/", 3)[3]
        assert routes.serves("gateway", path, "POST" if key == "SKILLPASS_TOKEN_URL" else "GET"), path


def test_migrate_job_runs_the_migrate_command_against_the_primary(migrate_env):
    (job,) = _by_kind(RENDERED, "Job").values()
    assert _container(job)["command"] == ["skillpass", "migrate"]
    env = _resolved_env(job)
    assert migrate_env <= set(env)
    assert "@skillpass-db-rw:5432/skillpass" in env["SKILLPASS_ADMIN_DATABASE_URL"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"


# --- probes, shutdown, security ------------------------------------------------------------


@pytest.mark.parametrize("spec", ALL, ids=lambda p: p.name)
def test_probes_hit_routes_the_app_serves(spec, routes):
    container = _container(_deployment(RENDERED, spec.path))
    port_names = {p["name"] for p in container["ports"]}
    expected = {"readinessProbe": "/readyz", "livenessProbe": "/healthz", "startupProbe": "/healthz"}
    for probe, path in expected.items():
        get = container[probe]["httpGet"]
        assert get["path"] == path
        assert routes.serves(spec.name, get["path"]), f"{spec.name} serves no {get['path']}"
        assert get["port"] in port_names


@pytest.mark.parametrize("spec", ALL, ids=lambda p: p.name)
def test_pods_shut_down_gracefully_and_run_locked_down(spec):
    pod = _deployment(RENDERED, spec.path)["spec"]["template"]["spec"]
    container = pod["containers"][0]
    sleep = container["lifecycle"]["preStop"]["exec"]["command"]
    assert sleep[0] == "sleep"
    assert pod["terminationGracePeriodSeconds"] > int(sleep[1]) + 15, "room for uvicorn to finish requests"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001, "the image's user"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert "memory" in container["resources"]["limits"]
    assert "/tmp" in {m["mountPath"] for m in container["volumeMounts"]}, "uploads spool to /tmp"


def test_no_real_secrets_are_committed():
    assert not _by_kind(BASE, "Secret"), "the base references Secrets, it never holds one"
    for secret in _by_kind(RENDERED, "Secret").values():
        for key, value in secret["stringData"].items():
            assert value.startswith("REPLACE_ME"), f"{secret['metadata']['name']}/{key} is not a placeholder"


# --- network policy --------------------------------------------------------------------------


def _selects(policy: dict[str, Any], labels: dict[str, str]) -> bool:
    return policy["spec"]["podSelector"].get("matchLabels", {}).items() <= labels.items()


def _pod_labels(path: str) -> dict[str, str]:
    return _deployment(RENDERED, path)["spec"]["template"]["metadata"]["labels"]


def _ingress_rules(labels: dict[str, str]) -> list[dict[str, Any]]:
    policies = [
        p
        for p in _by_kind(RENDERED, "NetworkPolicy").values()
        if "Ingress" in p["spec"]["policyTypes"] and _selects(p, labels)
    ]
    return [rule for p in policies for rule in p["spec"].get("ingress", [])]


def _peer_is_internal(peer: dict[str, Any]) -> bool:
    pods = peer.get("podSelector", {})
    components = [e for e in pods.get("matchExpressions", []) if e["key"] == "app.kubernetes.io/component"]
    from_skillpass = (
        "namespaceSelector" not in peer
        and pods.get("matchLabels", {}).get("app.kubernetes.io/part-of") == "skillpass"
        and components
        and set(components[0]["values"]) <= {"gateway", "service"}
    )
    monitoring = {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}
    from_monitoring = peer == {"namespaceSelector": monitoring}
    return bool(from_skillpass or from_monitoring)


def test_every_pod_is_under_a_default_deny():
    deny = _by_kind(RENDERED, "NetworkPolicy")["skillpass-default-deny"]
    assert set(deny["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny["spec"]
    assert "egress" not in deny["spec"]
    for doc in _workloads():
        assert _selects(deny, doc["spec"]["template"]["metadata"]["labels"])


@pytest.mark.parametrize("spec", [p for p in ALL if p.name != "gateway"], ids=lambda p: p.name)
def test_services_are_reachable_only_from_the_gateway_and_each_other(spec):
    rules = _ingress_rules(_pod_labels(spec.path))
    assert rules
    for rule in rules:
        assert rule.get("from"), "a rule without `from` admits everyone"
        assert all(_peer_is_internal(peer) for peer in rule["from"]), rule


def test_only_the_gateway_is_open_to_the_outside():
    open_rules = [r for r in _ingress_rules(_pod_labels("gateway")) if not r.get("from")]
    assert open_rules
    ingresses = list(_by_kind(RENDERED, "Ingress").values())
    backends = {
        path["backend"]["service"]["name"]
        for i in ingresses
        for rule in i["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    assert backends == {"skillpass-gateway"}
    assert all(s["spec"]["type"] == "ClusterIP" for s in _by_kind(RENDERED, "Service").values())


def test_egress_allows_dns_the_pooler_and_the_processes_ports():
    egress = _by_kind(RENDERED, "NetworkPolicy")["skillpass-egress"]["spec"]["egress"]
    ports = {(p["port"], p["protocol"], p.get("endPort")) for rule in egress for p in rule["ports"]}
    assert {(53, "UDP", None), (53, "TCP", None), (5432, "TCP", None)} <= ports
    process_ports = sorted(p.port for p in ALL)
    assert (process_ports[0], "TCP", process_ports[-1]) in ports
    pooler_rule = next(r for r in egress if r["ports"][0]["port"] == 5432)
    pooler = _by_kind(RENDERED, "Pooler")[POOLER_HOST]
    pooler_pods = {"matchLabels": {"cnpg.io/poolerName": pooler["metadata"]["name"]}}
    assert pooler_rule["to"] == [{"podSelector": pooler_pods}]


def test_route_check_tells_a_served_path_from_an_unserved_one(routes):
    assert routes.serves("gateway", "/.well-known/jwks.json")
    assert routes.serves("catalogue", "/readyz")
    assert not routes.serves("catalogue", "/ready")
    assert not routes.serves("gateway", "/auth/token", "GET")


def test_incentives_reaches_the_services_it_calls(settings_classes, monkeypatch):
    """Assessment, the catalogue, the credit bank's feed and statistics' graduate counts, by Service name."""
    for name, value in _resolved_env(_deployment(RENDERED, "incentives")).items():
        monkeypatch.setenv(name, value)
    settings = settings_classes["incentives"]()
    ports = {p.path: p.port for p in ALL}
    assert (settings.assessment_url, settings.catalogue_url) == (
        f"http://skillpass-assessment:{ports['assessment']}",
        f"http://skillpass-catalogue:{ports['catalogue']}",
    )
    assert settings.credit_bank_url == f"http://skillpass-credit-bank:{ports['credit-bank']}"
    assert settings.statistics_url == f"http://skillpass-statistics:{ports['statistics']}"


def test_assessment_reaches_the_services_it_calls(settings_classes, monkeypatch):
    """The catalogue (lookups) and the credit bank (conversions in the learner record), by Service name."""
    for name, value in _resolved_env(_deployment(RENDERED, "assessment")).items():
        monkeypatch.setenv(name, value)
    settings = settings_classes["assessment"]()
    ports = {p.path: p.port for p in ALL}
    assert settings.catalogue_url == f"http://skillpass-catalogue:{ports['catalogue']}"
    assert settings.credit_bank_url == f"http://skillpass-credit-bank:{ports['credit-bank']}"
