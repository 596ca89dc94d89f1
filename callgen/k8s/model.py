"""Typed views of the two API objects discovery reads: EndpointSlice and Pod.

The API's JSON is decoded into these frozen records right where it arrives, so
the rest of the package never handles raw dicts.  Only the fields discovery
needs are kept; a malformed object raises ``K8sApiError`` naming the field.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from callgen.k8s.errors import K8sApiError


@dataclass(frozen=True)
class ObjectMeta:
    name: str
    resource_version: str


@dataclass(frozen=True)
class NamedPort:
    """A port of an EndpointSlice, or a container port of a pod."""

    name: str | None
    port: int | None
    protocol: str


@dataclass(frozen=True)
class SliceEndpoint:
    """One endpoint of a slice; ``ready`` already applies "missing means ready"."""

    address: str
    ready: bool
    owner: str  # targetRef name (the pod), else hostname, else the address


@dataclass(frozen=True)
class SliceInfo:
    meta: ObjectMeta
    address_type: str  # IPv4, IPv6 or FQDN
    ports: tuple[NamedPort, ...]
    endpoints: tuple[SliceEndpoint, ...]


@dataclass(frozen=True)
class PodInfo:
    meta: ObjectMeta
    ip: str
    running: bool
    ready: bool
    terminating: bool
    ports: tuple[NamedPort, ...]

    @property
    def usable(self) -> bool:
        return self.running and self.ready and not self.terminating and bool(self.ip)


@dataclass(frozen=True)
class ListResult:
    items: tuple[Any, ...]  # SliceInfo or PodInfo
    resource_version: str


T = TypeVar("T")
Decoder = Callable[[Any], T]


def decode_slice(obj: Any) -> SliceInfo:
    """EndpointSlice (discovery.k8s.io/v1).

    ``conditions.ready`` unset means ready (API semantics: "a nil value should
    be interpreted as true"); an endpoint with several addresses is one backend,
    so only its first address is used.
    """
    meta = _meta(obj, "EndpointSlice")
    ports = tuple(
        NamedPort(_opt_str(p, "name"), _opt_int(p, "port"), str(p.get("protocol") or "TCP"))
        for p in _list(obj, "ports")
    )
    endpoints = []
    for i, ep in enumerate(_list(obj, "endpoints")):
        addresses = _list(ep, "addresses")
        if not addresses or not isinstance(addresses[0], str):
            raise K8sApiError(f"EndpointSlice {meta.name}: endpoints[{i}].addresses is empty or not text")
        cond = ep.get("conditions") or {}
        ready = cond.get("ready")
        target = ep.get("targetRef") or {}
        owner = target.get("name") or ep.get("hostname") or addresses[0]
        endpoints.append(SliceEndpoint(addresses[0], ready is None or ready is True, str(owner)))
    return SliceInfo(meta, str(obj.get("addressType") or "IPv4"), ports, tuple(endpoints))


def decode_pod(obj: Any) -> PodInfo:
    """Pod (v1): phase, the Ready condition, podIP and named container ports."""
    meta = _meta(obj, "Pod")
    status = obj.get("status") or {}
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in (status.get("conditions") or [])
    )
    ports: list[NamedPort] = []
    for c in (obj.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            ports.append(NamedPort(_opt_str(p, "name"), _opt_int(p, "containerPort"), str(p.get("protocol") or "TCP")))
    return PodInfo(
        meta=meta,
        ip=str(status.get("podIP") or ""),
        running=status.get("phase") == "Running",
        ready=ready,
        terminating=bool((obj.get("metadata") or {}).get("deletionTimestamp")),
        ports=tuple(ports),
    )


def decode_list(body: Any, decode: Decoder) -> tuple[ListResult, str]:
    """A list response: (decoded items + resourceVersion, the continue token or "")."""
    if not isinstance(body, dict) or not isinstance(body.get("items", []), list):
        raise K8sApiError("list response is not a Kubernetes list object")
    meta = body.get("metadata") or {}
    items = tuple(decode(item) for item in body.get("items") or [])
    return ListResult(items, str(meta.get("resourceVersion") or "")), str(meta.get("continue") or "")


def _meta(obj: Any, kind: str) -> ObjectMeta:
    if not isinstance(obj, dict):
        raise K8sApiError(f"{kind}: expected a JSON object, got {type(obj).__name__}")
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str):
        raise K8sApiError(f"{kind}: metadata.name missing")
    return ObjectMeta(meta["name"], str(meta.get("resourceVersion") or ""))


def _list(obj: Any, key: str) -> list[Any]:
    value = obj.get(key) or []
    if not isinstance(value, list):
        raise K8sApiError(f"{key}: expected a list, got {type(value).__name__}")
    return value


def _opt_str(obj: Any, key: str) -> str | None:
    v = obj.get(key)
    return str(v) if v not in (None, "") else None


def _opt_int(obj: Any, key: str) -> int | None:
    v = obj.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int):
        raise K8sApiError(f"{key}: expected an integer, got {v!r}")
    return v
