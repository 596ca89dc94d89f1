"""deploy/k8s validates offline against the Kubernetes schemas and grants no more than needed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "k8s"
K8S_VERSION = "1.33.0"  # oldest version we claim: backoffLimitPerIndex is GA from 1.33

ALLOWED_RULES = {
    ("", "pods"): {"get", "list", "watch"},
    ("discovery.k8s.io", "endpointslices"): {"list", "watch"},
}


def _kustomization() -> dict:
    return yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())


def _resources() -> list[tuple[str, dict]]:
    docs = []
    for name in _kustomization()["resources"]:
        for doc in yaml.safe_load_all((DEPLOY / name).read_text()):
            if doc:
                docs.append((name, doc))
    return docs


def _by_kind(kind: str) -> list[dict]:
    return [d for _, d in _resources() if d["kind"] == kind]


def test_kustomization_lists_every_manifest() -> None:
    listed = set(_kustomization()["resources"])
    on_disk = {p.name for p in DEPLOY.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk


@pytest.mark.parametrize("version", [K8S_VERSION, "latest"])
def test_every_manifest_validates_against_the_bundled_schemas(version: str) -> None:
    kv = pytest.importorskip("kubernetes_validate")
    if version == "latest":
        version = kv.utils.latest_version()
    kinds = set()
    for name, doc in _resources():
        try:
            kv.validate(doc, version, strict=True)  # strict: unknown fields are errors too
        except kv.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            pytest.fail(f"{name}: {doc['kind']}/{doc['metadata']['name']}: {path}: {exc.message}")
        kinds.add(doc["kind"])
    assert kinds == {"Namespace", "ServiceAccount", "Role", "RoleBinding", "ConfigMap",
                     "PersistentVolumeClaim", "CronJob"}


def test_validator_catches_a_broken_manifest() -> None:
    """Guard against a validator that passes everything (e.g. a missing schema)."""
    kv = pytest.importorskip("kubernetes_validate")
    job = _by_kind("CronJob")[0]
    broken = yaml.safe_load(yaml.safe_dump(job))
    broken["spec"]["jobTemplate"]["spec"]["completionMode"] = 3
    with pytest.raises(kv.ValidationError):
        kv.validate(broken, K8S_VERSION, strict=True)
    broken = yaml.safe_load(yaml.safe_dump(job))
    broken["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["securityContext"]["capabilitiez"] = {}
    with pytest.raises(kv.ValidationError):
        kv.validate(broken, K8S_VERSION, strict=True)


def test_role_grants_nothing_beyond_discovery() -> None:
    roles = _by_kind("Role")
    assert len(roles) == 1 and not _by_kind("ClusterRole") and not _by_kind("ClusterRoleBinding")
    granted: dict[tuple[str, str], set[str]] = {}
    for rule in roles[0]["rules"]:
        assert "resourceNames" not in rule and "nonResourceURLs" not in rule
        for group in rule["apiGroups"]:
            for res in rule["resources"]:
                assert "*" not in (group, res), rule
                granted.setdefault((group, res), set()).update(rule["verbs"])
    assert granted == ALLOWED_RULES


def test_rolebinding_binds_the_runner_serviceaccount_in_the_role_namespace() -> None:
    role, binding, sa = _by_kind("Role")[0], _by_kind("RoleBinding")[0], _by_kind("ServiceAccount")[0]
    assert binding["metadata"]["namespace"] == role["metadata"]["namespace"]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role["metadata"]["name"]}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa["metadata"]["name"],
                                    "namespace": sa["metadata"]["namespace"]}]
    job_spec = _by_kind("CronJob")[0]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert job_spec["serviceAccountName"] == sa["metadata"]["name"]


def test_namespace_allows_net_raw_only_through_baseline() -> None:
    ns = _by_kind("Namespace")[0]
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "baseline"
    assert ns["metadata"]["name"] == _by_kind("CronJob")[0]["metadata"]["namespace"]


def test_cronjob_is_an_indexed_sharded_job() -> None:
    cj = _by_kind("CronJob")[0]
    spec = cj["spec"]["jobTemplate"]["spec"]
    pod = spec["template"]["spec"]
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == spec["parallelism"] >= 1
    assert spec["backoffLimitPerIndex"] >= 0 and pod["restartPolicy"] == "Never"
    (c,) = pod["containers"]
    env = {e["name"]: e for e in c["env"]}
    assert int(env["CALLGEN_SHARDS"]["value"]) == spec["completions"]
    argv = c["command"] + c["args"]
    assert argv[:3] == ["callgen", "run", "/scenarios"] and "--shard-from-env" in argv
    junit = argv[argv.index("--junit") + 1]
    assert "$(JOB_COMPLETION_INDEX)" in junit and junit.startswith("/results/")
    out = argv[argv.index("--out") + 1]
    assert "$(JOB_COMPLETION_INDEX)" in out, "each shard must write under its own index"


def test_containers_drop_all_and_add_only_net_raw() -> None:
    pod = _by_kind("CronJob")[0]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert not pod.get("hostNetwork") and not pod.get("hostPID") and not pod.get("hostIPC")
    for c in pod["containers"] + pod.get("initContainers", []):
        sc = c["securityContext"]
        assert sc["capabilities"] == {"drop": ["ALL"], "add": ["NET_RAW"]}
        assert sc.get("privileged") is False and sc["allowPrivilegeEscalation"] is False
        assert sc["readOnlyRootFilesystem"] is True
        mounts = {m["mountPath"] for m in c["volumeMounts"]}
        assert {"/tmp", "/results", "/scenarios"} <= mounts  # writable places for a read-only root


def test_scenario_configmap_keys_are_yaml_files() -> None:
    (cm,) = _by_kind("ConfigMap")
    assert cm["data"]
    for key, text in cm["data"].items():
        assert re.fullmatch(r"[-._a-zA-Z0-9]+\.ya?ml", key), key
        assert isinstance(yaml.safe_load(text), dict)


def test_dockerfile_builds_like_make_setup() -> None:
    text = (ROOT / "Dockerfile").read_text()
    instructions = [ln for ln in re.sub(r"\\\n", " ", text).splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    assert instructions[0].startswith("FROM debian:12")
    assert any(i.startswith("RUN ") and "scripts/setup.sh" in i for i in instructions)
    copy = [i for i in instructions if i.startswith("COPY ")]
    assert copy and all("--exclude=.venv" in i and "--exclude=.build" in i for i in copy if " . " in i)
    assert "scripts/setup.sh" in {str(p.relative_to(ROOT)) for p in (ROOT / "scripts").glob("*.sh")}
