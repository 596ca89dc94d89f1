"""A scenario whose system under test is named as a Kubernetes Service: the
target resolves (through the fake API server) to a ready endpoint and feeds the
scenario's ${NAME} variables, in both configuration modes; a 403 fails clearly
with file, line and the missing RBAC verb."""

from __future__ import annotations

import pytest
from k8s_helpers import SA_USER

from callgen.errors import InfrastructureError
from callgen.scenario.loader import load_scenario
from callgen.scenario.targets import placeholder_target

SCENARIO = """\
name: via_k8s
targets:
  sut: {k8s: {namespace: voip, service: kamailio, port: sip}}
agents:
  alice:
    role: caller
    proxy: "sip:${sut};lr"
  bob:
    role: callee
calls:
  - from: alice
    to: "sip:bob@${sut}"
"""


def test_service_target_through_kubeconfig(kubeconfig, write_yaml, tmp_path, monkeypatch):
    kubeconfig()  # writes tmp_path/kube/config for the fake server
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kube" / "config"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    s = load_scenario(write_yaml(SCENARIO))
    assert s.calls[0].uri == "sip:bob@127.0.0.2:5060"  # the first ready endpoint, sorted
    assert s.agent("alice").proxy == "sip:127.0.0.2:5060;lr"


def test_service_target_in_cluster(in_cluster, write_yaml, tmp_path, monkeypatch, server):
    in_cluster()  # lays out tmp_path/serviceaccount
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(server.port))
    monkeypatch.setenv("CALLGEN_K8S_SERVICEACCOUNT_DIR", str(tmp_path / "serviceaccount"))
    monkeypatch.setenv("HOME", str(tmp_path / "nohome"))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    s = load_scenario(write_yaml(SCENARIO))
    assert s.calls[0].uri == "sip:bob@127.0.0.2:5060"


def test_var_overrides_target_without_lookup(write_yaml, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", "/nonexistent")
    s = load_scenario(write_yaml(SCENARIO), variables={"sut": "127.0.0.1:5080"})
    assert s.calls[0].uri == "sip:bob@127.0.0.1:5080"


def test_forbidden_fails_with_location_and_rbac(in_cluster, write_yaml, tmp_path, monkeypatch, server, cluster):
    in_cluster()
    cluster.grants[SA_USER] = {("list", "pods")}  # no endpointslices for the ServiceAccount
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(server.port))
    monkeypatch.setenv("CALLGEN_K8S_SERVICEACCOUNT_DIR", str(tmp_path / "serviceaccount"))
    monkeypatch.setenv("HOME", str(tmp_path / "nohome"))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    with pytest.raises(InfrastructureError) as ei:
        load_scenario(write_yaml(SCENARIO))
    msg = str(ei.value)
    assert "s.yaml:3: targets.sut:" in msg
    assert "403" in msg and '"list"' in msg and "endpointslices" in msg


def test_validate_needs_no_cluster(write_yaml, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", "/nonexistent")
    s = load_scenario(write_yaml(SCENARIO), resolver=placeholder_target)
    assert s.calls[0].uri == "sip:bob@127.0.0.1:5060"
