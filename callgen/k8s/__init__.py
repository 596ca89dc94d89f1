"""Kubernetes targets: discover a SIP peer from a Service or a pod selector.

Public API::

    from callgen.k8s import K8sTarget, resolve
    target = K8sTarget.from_mapping({"k8s": {"namespace": "voip", "service": "kamailio", "port": "sip"}})
    endpoints = resolve(target)          # [Endpoint(ip, port, name), ...]

Importing this package does not import the client library (the optional extra
``callgen[k8s]``); ``resolve`` does, and fails with an error naming the extra
when it is missing.
"""

from __future__ import annotations

from callgen.k8s.config import ClientConfig
from callgen.k8s.errors import (
    K8sApiError,
    K8sAuthError,
    K8sClientMissing,
    K8sConfigError,
    K8sError,
    K8sNoEndpoints,
)
from callgen.k8s.target import Endpoint, K8sTarget, Pick, select


def resolve(target: K8sTarget, *, config: ClientConfig | None = None, index: int = 0) -> list[Endpoint]:
    """See ``callgen.k8s.discovery.resolve``; imported late to keep the client optional."""
    from callgen.k8s.discovery import resolve as _resolve

    return _resolve(target, config=config, index=index)


__all__ = [
    "ClientConfig",
    "Endpoint",
    "K8sApiError",
    "K8sAuthError",
    "K8sClientMissing",
    "K8sConfigError",
    "K8sError",
    "K8sNoEndpoints",
    "K8sTarget",
    "Pick",
    "resolve",
    "select",
]
