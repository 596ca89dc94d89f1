"""K8sTarget parsing/validation, pick, and behaviour without the optional client library."""

from __future__ import annotations

import subprocess
import sys

import pytest

from callgen.errors import UsageError
from callgen.k8s import Endpoint, K8sTarget, Pick, select


def test_from_mapping_outer_and_inner() -> None:
    outer = K8sTarget.from_mapping({"k8s": {"namespace": "voip", "service": "kamailio", "port": "sip", "pick": "each"}})
    inner = K8sTarget.from_mapping({"namespace": "voip", "service": "kamailio", "port": "sip", "pick": "each"})
    assert outer == inner == K8sTarget("voip", service="kamailio", port="sip", pick=Pick.EACH)
    assert K8sTarget.from_mapping({"namespace": "voip", "selector": "app=kamailio", "port": "5060"}).port == 5060
    sel = K8sTarget.from_mapping({"namespace": "voip", "selector": "app=kamailio,tier in (edge, core),!canary"})
    assert sel.selector and sel.pick is Pick.FIRST and sel.port is None


@pytest.mark.parametrize(
    "mapping,key",
    [
        ({"k8s": "kamailio"}, "k8s:"),
        ({"service": "kamailio"}, "k8s.namespace"),
        ({"namespace": "Voip", "service": "kamailio"}, "k8s.namespace"),
        ({"namespace": "voip"}, "exactly one of service"),
        ({"namespace": "voip", "service": "a", "selector": "b=c"}, "exactly one of service"),
        ({"namespace": "voip", "service": "Kam_ailio"}, "k8s.service"),
        ({"namespace": "voip", "selector": "app=(x"}, "k8s.selector"),
        ({"namespace": "voip", "selector": ""}, "k8s.selector"),
        ({"namespace": "voip", "service": "k", "port": 0}, "k8s.port"),
        ({"namespace": "voip", "service": "k", "port": 70000}, "k8s.port"),
        ({"namespace": "voip", "service": "k", "port": True}, "k8s.port"),
        ({"namespace": "voip", "service": "k", "port": 5060.0}, "k8s.port"),
        ({"namespace": "voip", "service": "k", "port": "a-very-long-port-name"}, "k8s.port"),
        ({"namespace": "voip", "service": "k", "pick": "random"}, "k8s.pick"),
        ({"namespace": "voip", "service": "k", "pick": 1}, "k8s.pick"),
        ({"namespace": "voip", "service": "k", "ports": "sip"}, "k8s.ports: unknown key"),
        ({"namespace": 7, "service": "k"}, "k8s.namespace: expected a string"),
    ],
)
def test_from_mapping_rejects_with_key_name(mapping: dict, key: str) -> None:
    with pytest.raises(UsageError) as info:
        K8sTarget.from_mapping(mapping)
    assert key in str(info.value)


def test_select() -> None:
    eps = [Endpoint(f"127.0.0.{i}", 5060, f"p{i}") for i in (2, 3, 4)]
    assert select(eps, Pick.FIRST, 7) == eps[:1]
    assert select(eps, Pick.ALL) == eps
    assert [select(eps, Pick.EACH, i)[0].ip for i in range(4)] == ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.2"]
    assert select([], Pick.EACH, 3) == []
    assert Endpoint("::1", 5060, "x").hostport == "[::1]:5060"


_WITHOUT_LIGHTKUBE = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "lightkube" or name.startswith("lightkube."):
            raise ImportError("No module named " + repr(name))
sys.meta_path.insert(0, Block())
import callgen.k8s, callgen.k8s.command, callgen.suite.sharding, callgen.k8s.discovery, callgen.k8s.watch
t = callgen.k8s.K8sTarget.from_mapping({"k8s": {"namespace": "voip", "service": "kamailio", "port": "sip"}})
try:
    callgen.k8s.resolve(t)
except callgen.k8s.K8sClientMissing as exc:
    print("ERR", exc, int(exc.exit_status))
print("lightkube" in sys.modules)
"""


def test_without_client_library_the_error_names_the_extra() -> None:
    proc = subprocess.run([sys.executable, "-c", _WITHOUT_LIGHTKUBE], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("ERR ") and "pip install 'callgen[k8s]'" in lines[0] and lines[0].endswith(" 3")
    assert lines[1] == "False"
