"""Follow a target's endpoints as they change, for a bounded time.

List, then watch from the list's resourceVersion.  On 410 Gone (HTTP status or
an ERROR event) the version is too old to resume from, so list again and report
the difference against what was known; a watch "from now" would silently drop
whatever changed in between.  Every request is bounded by the overall deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from callgen.k8s.api import Gone, Session
from callgen.k8s.config import ClientConfig
from callgen.k8s.discovery import endpoints_of_object, query_for, with_first_working_source
from callgen.k8s.model import ListResult, PodInfo
from callgen.k8s.target import Endpoint, K8sTarget


@dataclass(frozen=True)
class Change:
    """One object's ready endpoints after an ADDED, MODIFIED or DELETED event."""

    type: str
    kind: str  # "endpointslice" or "pod"
    name: str
    endpoints: tuple[Endpoint, ...]


@dataclass(frozen=True)
class Notice:
    """Something the watcher did that is not a change (e.g. re-listing after 410)."""

    text: str


@dataclass(frozen=True)
class _Known:
    resource_version: str
    endpoints: tuple[Endpoint, ...]


def watch_changes(
    target: K8sTarget,
    cfg: ClientConfig,
    *,
    timeout: float,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[Change | Notice]:
    """Yield the initial state as ADDED changes, then changes until ``timeout`` seconds passed."""
    deadline = clock() + timeout
    res, selector, decode = query_for(target)
    source, listing = with_first_working_source(
        cfg, lambda s: (s.source, s.list(res, target.namespace, selector, decode))
    )
    known: dict[str, _Known] = {}
    yield from _diff(target, known, listing)
    rv = listing.resource_version
    with Session(source, cfg) as session:
        while clock() < deadline:
            try:
                for event in session.watch(
                    res, target.namespace, selector, decode, resource_version=rv, deadline=deadline
                ):
                    rv = event.resource_version or rv
                    if event.type == "BOOKMARK":
                        continue
                    yield _apply(target, known, event.type, event.obj)
            except Gone:
                yield Notice(f"410 Gone: resourceVersion {rv} expired; listing {res.plural} again")
                listing = session.list(res, target.namespace, selector, decode)
                yield from _diff(target, known, listing)
                rv = listing.resource_version


def _apply(target: K8sTarget, known: dict[str, _Known], kind: str, obj: object) -> Change:
    name = obj.meta.name  # type: ignore[attr-defined]
    eps = endpoints_of_object(target, obj)  # type: ignore[arg-type]
    if kind == "DELETED":
        known.pop(name, None)
        eps = ()
    else:
        known[name] = _Known(obj.meta.resource_version, eps)  # type: ignore[attr-defined]
    return Change(kind, _kind_of(obj), name, eps)


def _diff(target: K8sTarget, known: dict[str, _Known], listing: ListResult) -> Iterator[Change]:
    """Bring ``known`` up to ``listing`` and yield what changed, in name order."""
    seen = set()
    for obj in sorted(listing.items, key=lambda o: o.meta.name):
        name = obj.meta.name
        seen.add(name)
        before = known.get(name)
        if before is None:
            yield _apply(target, known, "ADDED", obj)
        elif before.resource_version != obj.meta.resource_version:
            yield _apply(target, known, "MODIFIED", obj)
    kind = "pod" if target.selector else "endpointslice"
    for name in sorted(set(known) - seen):
        known.pop(name)
        yield Change("DELETED", kind, name, ())


def _kind_of(obj: object) -> str:
    return "pod" if isinstance(obj, PodInfo) else "endpointslice"
