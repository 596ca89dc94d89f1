"""Fixtures: a fake kube-apiserver on 127.0.0.1 and client configurations for it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from k8s_fakeapi import FakeApiServer, FakeCluster, make_pki
from k8s_helpers import ALL_GRANTS, KUBE_USER, NS, SA_TOKEN, SA_USER, USER_TOKEN, pod_obj, slice_obj

from callgen.k8s.config import ClientConfig


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory):
    return make_pki(tmp_path_factory.mktemp("pki"), client_cn=KUBE_USER)


@pytest.fixture
def cluster(pki) -> FakeCluster:
    c = FakeCluster(pki=pki, tokens={SA_TOKEN: SA_USER, USER_TOKEN: KUBE_USER},
                    grants={SA_USER: set(ALL_GRANTS), KUBE_USER: set(ALL_GRANTS)})
    # Service kamailio: two slices (the controller splits large services); one endpoint not ready,
    # one with no ready condition at all (means ready), one duplicated across slices.
    c.put("endpointslices", NS, slice_obj("kamailio-abcde", "kamailio", [
        ("127.0.0.3", True, "kamailio-1"), ("127.0.0.9", False, "kamailio-9"), ("127.0.0.2", None, "kamailio-0")]))
    c.put("endpointslices", NS, slice_obj("kamailio-fghij", "kamailio", [
        ("127.0.0.4", True, "kamailio-2"), ("127.0.0.3", True, "kamailio-1")]))
    c.put("endpointslices", NS, slice_obj("other-zzzzz", "other", [("127.0.0.50", True, "other-0")]))
    c.put("endpointslices", "elsewhere", slice_obj("kamailio-xxxxx", "kamailio", [("127.0.0.60", True, "k-x")]))
    c.put("pods", NS, pod_obj("kamailio-0", "127.0.0.2"))
    c.put("pods", NS, pod_obj("kamailio-1", "127.0.0.3", ports=[("sip", 5080)]))
    c.put("pods", NS, pod_obj("kamailio-8", "127.0.0.8", ready=False))
    c.put("pods", NS, pod_obj("kamailio-7", "127.0.0.7", phase="Pending"))
    c.put("pods", NS, pod_obj("kamailio-6", "127.0.0.6", deleting=True))
    c.put("pods", NS, pod_obj("rtpengine-0", "127.0.0.20", labels={"app": "rtpengine"}))
    return c


@pytest.fixture
def server(cluster: FakeCluster) -> Iterator[FakeApiServer]:
    with FakeApiServer(cluster) as srv:
        yield srv


@pytest.fixture
def kubeconfig(tmp_path: Path, server: FakeApiServer, pki) -> Callable[..., ClientConfig]:
    """Write a kubeconfig for the fake server and return a ClientConfig that uses only it."""

    def make(*, user: dict | None = None, cluster: dict | None = None, context: str | None = None,
             timeout: float = 5.0) -> ClientConfig:
        cl = {"server": server.url, "certificate-authority": str(pki.ca)} if cluster is None else cluster
        u = {"token": USER_TOKEN} if user is None else user
        conf = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": cl}],
            "users": [{"name": "alice", "user": u}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "alice", "namespace": NS}}],
            "current-context": "fake",
        }
        path = tmp_path / "kube" / "config"
        path.parent.mkdir(exist_ok=True)
        path.write_text(yaml.safe_dump(conf))
        # KUBERNETES_SERVICE_HOST is absent, so in-cluster is skipped and the kubeconfig used.
        return ClientConfig.from_env({"KUBECONFIG": str(path)}, context=context, timeout=timeout)

    return make


@pytest.fixture
def in_cluster(tmp_path: Path, server: FakeApiServer, pki) -> Callable[..., ClientConfig]:
    """Lay out a ServiceAccount directory (token, ca.crt, namespace) and return a ClientConfig for it."""

    def make(*, token: str | None = SA_TOKEN, ca: Path | None = None, timeout: float = 5.0,
             env: dict[str, str] | None = None) -> ClientConfig:
        sa = tmp_path / "serviceaccount"
        sa.mkdir(exist_ok=True)
        if token is not None:
            (sa / "token").write_text(token)
        (sa / "ca.crt").write_bytes((ca or pki.ca).read_bytes())
        (sa / "namespace").write_text(NS)
        base = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(server.port),
                "CALLGEN_K8S_SERVICEACCOUNT_DIR": str(sa), "HOME": str(tmp_path / "nohome")}
        base.update(env or {})
        return ClientConfig.from_env(base, timeout=timeout)

    return make
