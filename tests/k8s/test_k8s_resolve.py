"""resolve() against the fake API server, through a kubeconfig and in-cluster."""

from __future__ import annotations

import pytest
from k8s_helpers import KUBE_USER, NS, SA_USER, USER_TOKEN, b64, pod_obj, slice_obj

from callgen.k8s import Endpoint, K8sAuthError, K8sConfigError, K8sNoEndpoints, K8sTarget, resolve
from callgen.k8s.errors import K8sApiError

TARGET = {"k8s": {"namespace": "voip", "service": "kamailio", "port": "sip"}}
READY = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]  # 127.0.0.9 is not ready; 127.0.0.3 is in both slices


def _ips(eps: list[Endpoint]) -> list[str]:
    return [e.ip for e in eps]


def _all(mapping: dict) -> K8sTarget:
    inner = dict(mapping["k8s"], pick="all")
    return K8sTarget.from_mapping({"k8s": inner})


def test_service_resolves_through_kubeconfig(kubeconfig, cluster) -> None:
    cluster.page_size = 1  # one slice per page: the second slice is only reached through 'continue'
    cfg = kubeconfig()
    eps = resolve(_all(TARGET), config=cfg)
    assert _ips(eps) == READY
    assert {e.port for e in eps} == {5060}
    assert [e.name for e in eps] == ["kamailio-0", "kamailio-1", "kamailio-2"]
    # all slices merged across pages, selector sent
    assert any("labelSelector=kubernetes.io%2Fservice-name%3Dkamailio" in r for r in cluster.requests)
    assert any("continue=" in r for r in cluster.requests)


def test_service_resolves_in_cluster(in_cluster) -> None:
    eps = resolve(_all(TARGET), config=in_cluster())
    assert _ips(eps) == READY


def test_default_pick_first_and_each_rotates(kubeconfig) -> None:
    cfg = kubeconfig()
    t = K8sTarget.from_mapping(TARGET)
    assert _ips(resolve(t, config=cfg)) == ["127.0.0.2"]
    each = K8sTarget.from_mapping({"k8s": dict(TARGET["k8s"], pick="each")})
    assert [resolve(each, config=cfg, index=i)[0].ip for i in range(5)] == READY + READY[:2]


@pytest.mark.parametrize(
    "user",
    [
        pytest.param("certfiles", id="client-certificate files"),
        pytest.param("certdata", id="client-certificate-data"),
    ],
)
def test_client_certificate_auth(kubeconfig, pki, user) -> None:
    if user == "certfiles":
        u = {"client-certificate": str(pki.client_cert), "client-key": str(pki.client_key)}
    else:
        u = {"client-certificate-data": b64(pki.client_cert), "client-key-data": b64(pki.client_key)}
    assert _ips(resolve(_all(TARGET), config=kubeconfig(user=u))) == READY


def test_ca_data_and_insecure_skip_verify(kubeconfig, server, pki) -> None:
    cfg = kubeconfig(cluster={"server": server.url, "certificate-authority-data": b64(pki.ca)})
    assert _ips(resolve(_all(TARGET), config=cfg)) == READY
    cfg = kubeconfig(cluster={"server": server.url, "insecure-skip-tls-verify": True})
    assert _ips(resolve(_all(TARGET), config=cfg)) == READY


def test_untrusted_server_certificate_is_refused(kubeconfig, server, pki) -> None:
    cfg = kubeconfig(cluster={"server": server.url, "certificate-authority": str(pki.other_ca)})
    with pytest.raises(K8sApiError) as info:
        resolve(_all(TARGET), config=cfg)
    assert "kubeconfig" in str(info.value) and "CERTIFICATE_VERIFY_FAILED" in str(info.value)


def test_pod_selector_with_named_port(kubeconfig) -> None:
    t = K8sTarget.from_mapping({"k8s": {"namespace": NS, "selector": "app=kamailio", "port": "sip", "pick": "all"}})
    eps = resolve(t, config=kubeconfig())
    # not Ready, Pending and terminating pods are left out; each pod's own port number is used
    assert [(e.ip, e.port, e.name) for e in eps] == [("127.0.0.2", 5060, "kamailio-0"), ("127.0.0.3", 5080, "kamailio-1")]


def test_pod_selector_numeric_port_and_default(in_cluster) -> None:
    cfg = in_cluster()
    t = K8sTarget.from_mapping({"k8s": {"namespace": NS, "selector": "app=rtpengine", "port": 7722}})
    assert [(e.ip, e.port) for e in resolve(t, config=cfg)] == [("127.0.0.20", 7722)]
    t = K8sTarget.from_mapping({"k8s": {"namespace": NS, "selector": "app=rtpengine"}})
    assert [(e.ip, e.port) for e in resolve(t, config=cfg)] == [("127.0.0.20", 5060)]


def test_forbidden_names_verb_and_resource_in_cluster(in_cluster, cluster) -> None:
    cluster.grants[SA_USER] = {("list", "pods")}
    with pytest.raises(K8sAuthError) as info:
        resolve(K8sTarget.from_mapping(TARGET), config=in_cluster())
    msg = str(info.value)
    assert ('403 Forbidden: cannot list resource "endpointslices" in API group "discovery.k8s.io" in namespace '
            '"voip"') in msg
    assert 'needs verb "list" on endpointslices' in msg
    assert SA_USER in msg and "in-cluster" in msg
    assert "kubeconfig" in msg  # the second source was considered too, and why it was not used is said


def test_forbidden_pods_names_core_group(kubeconfig, cluster) -> None:
    cluster.grants[KUBE_USER] = {("list", "endpointslices")}
    t = K8sTarget.from_mapping({"k8s": {"namespace": NS, "selector": "app=kamailio"}})
    with pytest.raises(K8sAuthError) as info:
        resolve(t, config=kubeconfig())
    assert 'cannot list resource "pods" in API group "" in namespace "voip"' in str(info.value)


def test_unauthorized_token_in_cluster_falls_back_to_kubeconfig(in_cluster, tmp_path, server, pki) -> None:
    import yaml

    kc = tmp_path / "kc.yaml"
    kc.write_text(yaml.safe_dump({
        "clusters": [{"name": "c", "cluster": {"server": server.url, "certificate-authority": str(pki.ca)}}],
        "users": [{"name": "u", "user": {"token": USER_TOKEN}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }))
    cfg = in_cluster(token="revoked", env={"KUBECONFIG": str(kc)})
    assert _ips(resolve(_all(TARGET), config=cfg)) == READY
    cfg = in_cluster(token="revoked")  # no kubeconfig to fall back on
    with pytest.raises(K8sAuthError) as info:
        resolve(_all(TARGET), config=cfg)
    msg = str(info.value)
    assert "in-cluster" in msg and "401 Unauthorized" in msg and "no such file" in msg


def test_nothing_configured_says_what_was_tried(tmp_path) -> None:
    from callgen.k8s.config import ClientConfig

    cfg = ClientConfig.from_env({"HOME": str(tmp_path)})
    with pytest.raises(K8sConfigError) as info:
        resolve(K8sTarget.from_mapping(TARGET), config=cfg)
    msg = str(info.value)
    assert "in-cluster" in msg and "KUBERNETES_SERVICE_HOST" in msg
    assert str(tmp_path / ".kube" / "config") in msg and "no such file" in msg


def test_in_cluster_without_token_is_explained(in_cluster) -> None:
    cfg = in_cluster(token=None)
    with pytest.raises(K8sConfigError) as info:
        resolve(K8sTarget.from_mapping(TARGET), config=cfg)
    assert "no token at" in str(info.value)


def test_no_ready_endpoints_and_unknown_port(kubeconfig, cluster) -> None:
    cfg = kubeconfig()
    with pytest.raises(K8sNoEndpoints) as info:
        resolve(K8sTarget.from_mapping({"k8s": {"namespace": NS, "service": "kamailio", "port": "sips"}}), config=cfg)
    assert "no port named 'sips'" in str(info.value) and "sip=5060/UDP" in str(info.value)
    with pytest.raises(K8sNoEndpoints) as info:
        resolve(K8sTarget.from_mapping({"k8s": {"namespace": NS, "service": "absent"}}), config=cfg)
    assert "no EndpointSlices found" in str(info.value)
    cluster.put("endpointslices", NS, slice_obj("down-aaaaa", "down", [("127.0.0.30", False, "down-0")]))
    with pytest.raises(K8sNoEndpoints) as info:
        resolve(K8sTarget.from_mapping({"k8s": {"namespace": NS, "service": "down"}}), config=cfg)
    assert "none of 1 endpoint(s)" in str(info.value)


def test_port_by_number_and_unnamed_single_port(kubeconfig, cluster) -> None:
    cfg = kubeconfig()
    cluster.put("endpointslices", NS, slice_obj("multi-aaaaa", "multi", [("127.0.0.40", True, "m-0")],
                                                ports=[("sip", 5060), ("sip-tls", 5061)]))
    t = K8sTarget.from_mapping({"k8s": {"namespace": NS, "service": "multi", "port": "sip-tls"}})
    assert [(e.ip, e.port) for e in resolve(t, config=cfg)] == [("127.0.0.40", 5061)]
    t = K8sTarget.from_mapping({"k8s": {"namespace": NS, "service": "multi", "port": 5070}})
    assert [(e.ip, e.port) for e in resolve(t, config=cfg)] == [("127.0.0.40", 5070)]
    t = K8sTarget.from_mapping({"k8s": {"namespace": NS, "service": "multi"}})
    with pytest.raises(K8sNoEndpoints) as info:
        resolve(t, config=cfg)
    assert "several ports" in str(info.value)


def test_pod_port_name_missing(kubeconfig, cluster) -> None:
    cluster.put("pods", NS, pod_obj("lonely-0", "127.0.0.33", labels={"app": "lonely"}, ports=[("http", 80)]))
    t = K8sTarget.from_mapping({"k8s": {"namespace": NS, "selector": "app=lonely", "port": "sip"}})
    with pytest.raises(K8sNoEndpoints) as info:
        resolve(t, config=kubeconfig())
    assert "no container port named 'sip'" in str(info.value)
