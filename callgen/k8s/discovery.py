"""Resolve a K8sTarget to the addresses of ready backends.

Services are read through EndpointSlices (``kubernetes.io/service-name=<svc>``,
every slice merged, only ready endpoints), pod selectors through pods (Running,
Ready condition True, not terminating, with a podIP).  The result is sorted by
address so ``pick: first`` is stable across runs and ``pick: each`` rotates in
a predictable order.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from callgen.k8s.api import ENDPOINTSLICES, PODS, Resource, Session
from callgen.k8s.config import ClientConfig, probe_sources
from callgen.k8s.errors import K8sApiError, K8sAuthError, K8sConfigError, K8sError, K8sNoEndpoints
from callgen.k8s.model import Decoder, NamedPort, PodInfo, SliceInfo, decode_pod, decode_slice
from callgen.k8s.target import DEFAULT_SIP_PORT, Endpoint, K8sTarget, select

SERVICE_LABEL = "kubernetes.io/service-name"

R = TypeVar("R")


def resolve(target: K8sTarget, *, config: ClientConfig | None = None, index: int = 0) -> list[Endpoint]:
    """Ready endpoints of ``target`` after applying its ``pick``.

    ``index`` is the call/run number used by ``pick: each`` (call i goes to
    endpoint i mod n).  Raises a ``K8sError`` (an ``InfrastructureError``) with
    the sources tried when the API cannot be used, and ``K8sNoEndpoints`` when
    nothing is ready.
    """
    endpoints = discover(target, config=config)
    return select(endpoints, target.pick, index)


def discover(target: K8sTarget, *, config: ClientConfig | None = None) -> list[Endpoint]:
    """All ready endpoints of ``target``, sorted; never empty (raises instead)."""
    cfg = config or ClientConfig.from_env()
    res, selector, decode = query_for(target)
    listing = with_first_working_source(cfg, lambda s: s.list(res, target.namespace, selector, decode))
    endpoints = endpoints_of(target, listing.items)
    if not endpoints:
        raise K8sNoEndpoints(_why_empty(target, listing.items))
    return endpoints


def query_for(target: K8sTarget) -> tuple[Resource, str, Decoder]:
    """Which resource and label selector answer for this target."""
    if target.service:
        return ENDPOINTSLICES, f"{SERVICE_LABEL}={target.service}", decode_slice
    return PODS, target.selector or "", decode_pod


def with_first_working_source(cfg: ClientConfig, action: Callable[[Session], R]) -> R:
    """Run ``action`` through the first source that works, in order in-cluster, kubeconfig.

    A source that answers 401/403 or cannot be reached does not end the
    search; if none works, the error lists every source and why it failed.
    The error class follows the most telling failure: auth, then API, then config.
    """
    probe = probe_sources(cfg)
    if not probe.usable:
        raise K8sConfigError("no Kubernetes API configuration found; tried " + "; ".join(probe.skipped))
    failures: list[tuple[str, K8sError]] = []
    for source in probe.usable:
        try:
            with Session(source, cfg) as session:
                return action(session)
        except (K8sAuthError, K8sApiError) as exc:
            failures.append((source.label, exc))
    reasons = [f"{label}: {exc}" for label, exc in failures] + list(probe.skipped)
    kinds = [type(exc) for _, exc in failures]
    cls: type[K8sError] = K8sAuthError if K8sAuthError in kinds else K8sApiError if kinds else K8sConfigError
    if len(reasons) == 1:
        raise cls(reasons[0])
    raise cls("Kubernetes API unusable; tried " + "; ".join(reasons))


def endpoints_of(target: K8sTarget, items: Iterable[SliceInfo | PodInfo]) -> list[Endpoint]:
    """Merge, keep ready, resolve the port, de-duplicate and sort."""
    found: dict[tuple[str, int], Endpoint] = {}
    for item in items:
        for ep in endpoints_of_object(target, item):
            found.setdefault((ep.ip, ep.port), ep)
    return sorted(found.values(), key=_order)


def endpoints_of_object(target: K8sTarget, item: SliceInfo | PodInfo) -> tuple[Endpoint, ...]:
    """Ready endpoints contributed by one slice or pod (empty if the port is not there)."""
    if isinstance(item, PodInfo):
        if not item.usable:
            return ()
        port = _pod_port(target.port, item.ports)
        return () if port is None else (Endpoint(item.ip, port, item.meta.name),)
    if item.address_type not in ("IPv4", "IPv6"):
        return ()  # FQDN slices name hosts, not addresses we can bind a call to
    port = _slice_port(target.port, item.ports)
    if port is None:
        return ()
    return tuple(sorted((Endpoint(ep.address, port, ep.owner) for ep in item.endpoints if ep.ready), key=_order))


def _slice_port(wanted: str | int | None, ports: Sequence[NamedPort]) -> int | None:
    if isinstance(wanted, int):
        return wanted
    if wanted is None:
        numbers = {p.port for p in ports if p.port is not None}
        return numbers.pop() if len(numbers) == 1 else None
    for p in ports:
        if p.name == wanted and p.port is not None:
            return p.port
    return None


def _pod_port(wanted: str | int | None, ports: Sequence[NamedPort]) -> int | None:
    if isinstance(wanted, int):
        return wanted
    if wanted is None:
        return DEFAULT_SIP_PORT
    for p in ports:
        if p.name == wanted and p.port is not None:
            return p.port
    return None


def _why_empty(target: K8sTarget, items: Sequence[SliceInfo | PodInfo]) -> str:
    head = target.description
    if not items:
        what = "EndpointSlices" if target.service else "pods"
        return f"{head}: no {what} found (does the {'Service' if target.service else 'selector'} exist in that namespace?)"
    ports = sorted({_show_port(p) for item in items for p in item.ports})
    if target.service and all(_slice_port(target.port, i.ports) is None for i in items if isinstance(i, SliceInfo)):
        if target.port is None:
            return f"{head}: several ports, name one with port: ({', '.join(ports) or 'none'})"
        return f"{head}: no port named {target.port!r} (ports: {', '.join(ports) or 'none'})"
    if not target.service and isinstance(target.port, str):
        pods = [i for i in items if isinstance(i, PodInfo) and i.usable]
        if pods and all(_pod_port(target.port, i.ports) is None for i in pods):
            return f"{head}: ready pods have no container port named {target.port!r} (ports: {', '.join(ports) or 'none'})"
    if target.service:
        total = sum(len(i.endpoints) for i in items if isinstance(i, SliceInfo))
        return f"{head}: none of {total} endpoint(s) in {len(items)} EndpointSlice(s) is ready"
    return f"{head}: none of {len(items)} pod(s) is Running and Ready"


def _show_port(p: NamedPort) -> str:
    return f"{p.name or '(unnamed)'}={p.port}/{p.protocol}"


def _order(ep: Endpoint) -> tuple[int, int, int, str]:
    try:
        addr = ipaddress.ip_address(ep.ip)
        return addr.version, int(addr), ep.port, ep.name
    except ValueError:
        return 9, 0, ep.port, ep.name

