"""Names and object builders shared by the k8s tests (kept out of conftest.py so that
test modules can import them without clashing with other conftest modules)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

NS = "voip"
SA_USER = f"system:serviceaccount:{NS}:callgen"
KUBE_USER = "alice"
SA_TOKEN = "sa-token-0123456789"
USER_TOKEN = "user-token-abcdef"
ALL_GRANTS = {("list", "endpointslices"), ("watch", "endpointslices"), ("list", "pods"), ("watch", "pods")}


def slice_obj(name: str, svc: str, endpoints: list[tuple[str, Any, str]], ports: list[tuple[str, int]] | None = None,
              address_type: str = "IPv4") -> dict:
    """EndpointSlice JSON; ``endpoints`` are (address, ready (True/False/None=absent), pod name)."""
    eps = []
    for addr, ready, pod in endpoints:
        ep: dict[str, Any] = {"addresses": [addr], "targetRef": {"kind": "Pod", "name": pod, "namespace": NS}}
        if ready is not None:
            ep["conditions"] = {"ready": ready, "serving": ready, "terminating": not ready}
        eps.append(ep)
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": name, "labels": {"kubernetes.io/service-name": svc,
                                               "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}},
        "addressType": address_type,
        "ports": [{"name": n, "port": p, "protocol": "UDP"} for n, p in (ports or [("sip", 5060)])],
        "endpoints": eps,
    }


def pod_obj(name: str, ip: str, *, labels: dict[str, str] | None = None, phase: str = "Running",
            ready: bool = True, ports: list[tuple[str, int]] | None = None, deleting: bool = False) -> dict:
    meta: dict[str, Any] = {"name": name, "labels": labels or {"app": "kamailio"}}
    if deleting:
        meta["deletionTimestamp"] = "2025-01-01T00:00:00Z"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {"containers": [{"name": "sip", "image": "kamailio",
                                 "ports": [{"name": n, "containerPort": p, "protocol": "UDP"}
                                           for n, p in (ports or [("sip", 5060)])]}]},
        "status": {"phase": phase, "podIP": ip,
                   "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


def b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()
