"""What a scenario names when its peer lives in Kubernetes, and what comes back.

``K8sTarget`` is parsed from the scenario's ``{k8s: {...}}`` mapping and is the
only thing the rest of callgen passes to discovery; ``Endpoint`` is the only
thing that comes back.  Both are frozen so a resolved target cannot be edited
behind the back of the code that logged it.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from callgen.errors import UsageError

# RFC 1123 label (namespace, service names) and the label-selector grammar subset we accept.
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_PORT_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SELECTOR_TERM = re.compile(
    r"^\s*!?[A-Za-z0-9][-A-Za-z0-9_./]*\s*"
    r"((==?|!=)\s*[-A-Za-z0-9_.]*\s*|\s+(in|notin)\s*\(\s*[-A-Za-z0-9_., ]*\)\s*)?$"
)

#: SIP's registered port (RFC 3261) used for pod selectors when no port is named.
DEFAULT_SIP_PORT = 5060

_KEYS = ("namespace", "service", "selector", "port", "pick")


class Pick(enum.Enum):
    """Which endpoint(s) to call when the target resolves to several."""

    FIRST = "first"  #: the lowest address; the same one every time
    EACH = "each"  #: round-robin: call/run number i uses endpoint i mod n
    ALL = "all"  #: every endpoint, one call each


@dataclass(frozen=True)
class Endpoint:
    """One callable address: an IP, the resolved port number, and who owns it (pod name)."""

    ip: str
    port: int
    name: str

    @property
    def hostport(self) -> str:
        return f"[{self.ip}]:{self.port}" if ":" in self.ip else f"{self.ip}:{self.port}"


@dataclass(frozen=True)
class K8sTarget:
    """A SIP peer named by Kubernetes identity instead of an address.

    Exactly one of ``service`` (resolved through EndpointSlices) and ``selector``
    (a pod label selector) is set.  ``port`` is a port name (looked up in the
    EndpointSlice ports or the pod's container ports) or a number (used as is).
    """

    namespace: str
    service: str | None = None
    selector: str | None = None
    port: str | int | None = None
    pick: Pick = Pick.FIRST

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def description(self) -> str:
        what = f"service {self.service}" if self.service else f"pods {self.selector}"
        port = "" if self.port is None else f" port {self.port}"
        return f"{what} in namespace {self.namespace}{port}"

    @classmethod
    def from_mapping(cls, m: Mapping[str, Any]) -> K8sTarget:
        """Parse ``{k8s: {namespace, service|selector, port, pick}}`` or its inner mapping.

        Errors are ``UsageError`` naming the key (``k8s.port`` ...); the caller
        prefixes the scenario file and key path.
        """
        if not isinstance(m, Mapping):
            raise UsageError(f"k8s: expected a mapping, got {type(m).__name__}")
        if set(m) == {"k8s"}:
            m = m["k8s"]
            if not isinstance(m, Mapping):
                raise UsageError(f"k8s: expected a mapping with namespace and service or selector, got {type(m).__name__}")
        unknown = sorted(str(k) for k in m if k not in _KEYS)
        if unknown:
            raise UsageError(f"k8s.{unknown[0]}: unknown key (allowed: {', '.join(_KEYS)})")
        for key in ("namespace", "service", "selector", "pick"):
            if key in m and not isinstance(m[key], str):
                raise UsageError(f"k8s.{key}: expected a string, got {_show(m[key])}")
        if "namespace" not in m:
            raise UsageError("k8s.namespace: required")
        port = m.get("port")
        if isinstance(port, bool) or not (port is None or isinstance(port, (str, int))):
            raise UsageError(f"k8s.port: expected a port name or number, got {_show(port)}")
        if isinstance(port, str) and port.isdigit():
            port = int(port)
        raw_pick = m.get("pick", Pick.FIRST.value)
        try:
            pick = Pick(raw_pick)
        except ValueError:
            allowed = ", ".join(p.value for p in Pick)
            raise UsageError(f"k8s.pick: expected one of {allowed}, got {_show(raw_pick)}") from None
        return cls(
            namespace=m["namespace"],
            service=m.get("service"),
            selector=m.get("selector"),
            port=port,
            pick=pick,
        )


def select(endpoints: Sequence[Endpoint], pick: Pick, index: int = 0) -> list[Endpoint]:
    """Apply ``pick`` to an ordered endpoint list.

    ``index`` is the caller's call or run number; it only matters for ``each``,
    where call ``index`` goes to endpoint ``index mod n``.  The state lives with
    the caller (a counter), not here, so two scenarios never share a rotation.
    """
    if not endpoints:
        return []
    if pick is Pick.ALL:
        return list(endpoints)
    if pick is Pick.EACH:
        return [endpoints[index % len(endpoints)]]
    return [endpoints[0]]


def _validate(t: K8sTarget) -> None:
    if not t.namespace or not _DNS_LABEL.match(t.namespace) or len(t.namespace) > 63:
        raise UsageError(f"k8s.namespace: not a valid namespace name: {t.namespace!r}")
    if (t.service is None) == (t.selector is None):
        raise UsageError("k8s: give exactly one of service (a Service name) or selector (a pod label selector)")
    if t.service is not None and (not _DNS_LABEL.match(t.service) or len(t.service) > 63):
        raise UsageError(f"k8s.service: not a valid Service name: {t.service!r}")
    if t.selector is not None:
        terms = [s for s in _split_selector(t.selector)]
        if not t.selector.strip() or not all(_SELECTOR_TERM.match(term) for term in terms):
            raise UsageError(f"k8s.selector: not a valid label selector: {t.selector!r} (example: app=kamailio,tier=edge)")
    if isinstance(t.port, bool):
        raise UsageError(f"k8s.port: expected a port name or number, got {t.port!r}")
    if isinstance(t.port, int) and not 1 <= t.port <= 65535:
        raise UsageError(f"k8s.port: must be in 1..65535, got {t.port}")
    if isinstance(t.port, str) and (not _PORT_NAME.match(t.port) or len(t.port) > 15):
        raise UsageError(f"k8s.port: not a valid port name (IANA_SVC_NAME, at most 15 characters): {t.port!r}")
    if not isinstance(t.pick, Pick):
        raise UsageError(f"k8s.pick: expected one of {', '.join(p.value for p in Pick)}, got {t.pick!r}")


def _split_selector(selector: str) -> list[str]:
    """Split on commas outside parentheses (``env in (a,b),app=x`` has two terms)."""
    terms, depth, cur = [], 0, []
    for ch in selector:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    terms.append("".join(cur))
    return terms


def _show(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"
