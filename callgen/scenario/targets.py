"""Named systems under test (``targets:``) -> ``host:port`` variables.

A target is a fixed ``address`` or a Kubernetes selector resolved through the
API (``callgen.k8s``).  Resolution happens once, when the scenario is loaded;
``--var NAME=...`` overrides a target and skips the lookup.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from callgen.errors import CallgenError, ScenarioError, UsageError
from callgen.scenario.model import LocalTarget, SbcSwitches, Secret
from callgen.scenario.yamlsrc import SourceMap

#: name, target mapping -> "host:port"
Resolver = Callable[[str, Mapping[str, Any]], str]


#: what a local target stands for while the scenario is loaded; the runner
#: starts the real one and loads the file again with its address
LOCAL_PLACEHOLDER = "127.0.0.1:5060"


def local_placeholder(local: Mapping[str, Any]) -> str:
    """What a local target stands for while loading: its loopback address and a port."""
    return "[::1]:5060" if isinstance(local, Mapping) and local.get("address") == "::1" else LOCAL_PLACEHOLDER


def resolve_target(name: str, spec: Mapping[str, Any]) -> str:
    """The real resolver: addresses as given, k8s through the API, local ones later."""
    if "address" in spec:
        return str(spec["address"])
    if "local" in spec:
        return local_placeholder(spec["local"])
    from callgen.k8s import K8sTarget, resolve

    target = K8sTarget.from_mapping(spec)
    ep = resolve(target)[0]
    host = f"[{ep.ip}]" if ":" in ep.ip else ep.ip
    return f"{host}:{ep.port}"


def placeholder_target(name: str, spec: Mapping[str, Any]) -> str:
    """For 'validate': check the file without asking any API (loopback placeholder)."""
    if "address" in spec:
        return str(spec["address"])
    if "local" in spec:
        return local_placeholder(spec["local"])
    if "k8s" in spec:
        from callgen.k8s import K8sTarget

        K8sTarget.from_mapping(spec)  # shape errors still count
    return "127.0.0.1:5060"


def local_targets(data: Mapping[str, Any], given: Mapping[str, str]) -> tuple[LocalTarget, ...]:
    """Targets callgen must start itself (those not given by --var or the environment)."""
    targets = data.get("targets") or {}
    return tuple(
        LocalTarget(name, spec["local"]["kind"], Secret(spec["local"].get("password", "")), spec["local"].get("port"),
                    _sbc_switches(spec["local"]), spec["local"].get("address", "127.0.0.1"))
        for name, spec in targets.items()
        if isinstance(spec, dict) and "local" in spec and name not in given
    )


#: keys of ``local:`` that only an SBC has
SBC_KEYS = ("mask_callid", "srtp_to_rtp", "transcode", "block_media", "block_dtmf")


def _sbc_switches(local: Mapping[str, Any]) -> SbcSwitches | None:
    if local.get("kind") != "sbc":
        return None
    tc = local.get("transcode")
    return SbcSwitches(bool(local.get("mask_callid", False)), bool(local.get("srtp_to_rtp", False)),
                       (str(tc["from"]), str(tc["to"])) if tc else None, local.get("block_media"), local.get("block_dtmf"))


def target_variables(data: Mapping[str, Any], variables: Mapping[str, str], smap: SourceMap,
                     resolver: Resolver) -> dict[str, str]:
    """``${NAME}`` values for every target not already given by a variable."""
    targets = data.get("targets") or {}
    if not isinstance(targets, dict):
        return {}  # the schema reports it
    out: dict[str, str] = {}
    for name, spec in targets.items():
        if name in variables or not isinstance(spec, dict):
            continue
        try:
            out[name] = resolver(name, spec)
        except (UsageError, ScenarioError) as exc:
            raise smap.error(("targets", name), str(exc)) from None
        except CallgenError as exc:
            raise type(exc)(f"{smap.location(('targets', name))}: targets.{name}: {exc}") from None
    return out
