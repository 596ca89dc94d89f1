"""``callgen k8s endpoints``: show (and optionally follow) what a Kubernetes target resolves to.

Useful before a run to check RBAC and readiness from the same place the run
will resolve from (the pod's ServiceAccount, or your kubeconfig).
"""

from __future__ import annotations

import argparse
from typing import Any

from callgen.errors import UsageError

DEFAULT_LIST_TIMEOUT = 10.0
DEFAULT_WATCH_TIMEOUT = 60.0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``k8s`` command group to callgen's CLI."""
    k8s = subparsers.add_parser("k8s", help="Kubernetes target discovery", description=__doc__)
    sub = k8s.add_subparsers(dest="k8s_command", metavar="K8S_COMMAND")
    sub.required = True
    ep = sub.add_parser(
        "endpoints",
        help="list (and watch) the ready endpoints of a Service or pod selector",
        description="List the ready endpoints of a Service (EndpointSlices) or of pods matching a label selector. "
        "Connection: in-cluster ServiceAccount first, then KUBECONFIG or ~/.kube/config.",
    )
    ep.add_argument("--namespace", "-n", required=True, help="namespace of the Service or pods")
    which = ep.add_mutually_exclusive_group(required=True)
    which.add_argument("--service", help="Service name (read through its EndpointSlices)")
    which.add_argument("--selector", "-l", help="pod label selector, e.g. app=kamailio")
    ep.add_argument("--port", help="SIP port: a port name (sip) or number (5060)")
    ep.add_argument("--watch", "-w", action="store_true", help="keep printing ADDED/MODIFIED/DELETED until --timeout")
    ep.add_argument(
        "--timeout",
        type=float,
        default=None,
        help=f"seconds: total watch time (default {DEFAULT_WATCH_TIMEOUT:g}), or the request timeout "
        f"without --watch (default {DEFAULT_LIST_TIMEOUT:g})",
    )
    ep.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)")
    ep.add_argument("--context", help="kubeconfig context (default: current-context)")
    ep.add_argument(
        "--service-account-dir",
        help="ServiceAccount token/CA directory (default: $CALLGEN_K8S_SERVICEACCOUNT_DIR, "
        "then /var/run/secrets/kubernetes.io/serviceaccount)",
    )
    ep.set_defaults(func=run_endpoints)


def run_endpoints(args: argparse.Namespace, io: Any) -> int:
    """Print ``ip:port name`` per ready endpoint; exit 1 if there is none (no watch)."""
    from callgen.k8s.config import ClientConfig
    from callgen.k8s.errors import K8sNoEndpoints
    from callgen.k8s.target import K8sTarget

    if args.timeout is not None and not args.timeout > 0:
        raise UsageError(f"--timeout: must be a positive number of seconds, got {args.timeout:g}")
    mapping = {"namespace": args.namespace}
    mapping.update({k: v for k, v in (("service", args.service), ("selector", args.selector)) if v is not None})
    if args.port is not None:
        mapping["port"] = args.port
    target = K8sTarget.from_mapping(mapping)
    request_timeout = DEFAULT_LIST_TIMEOUT if args.watch or args.timeout is None else args.timeout
    cfg = ClientConfig.from_env(
        kubeconfig=args.kubeconfig,
        context=args.context,
        service_account_dir=args.service_account_dir,
        timeout=request_timeout,
    )
    if args.watch:
        return _watch(target, cfg, args.timeout or DEFAULT_WATCH_TIMEOUT, io)
    from callgen.k8s.discovery import discover

    try:
        endpoints = discover(target, config=cfg)
    except K8sNoEndpoints as exc:
        print(f"callgen: {exc}", file=io.err)
        return 1
    for e in endpoints:
        print(f"{e.hostport}\t{e.name}", file=io.out)
    return 0


def _watch(target: Any, cfg: Any, timeout: float, io: Any) -> int:
    from callgen.k8s.watch import Change, watch_changes

    for item in watch_changes(target, cfg, timeout=timeout):
        if isinstance(item, Change):
            addrs = ", ".join(f"{e.hostport} ({e.name})" for e in item.endpoints) or "(no ready endpoints)"
            print(f"{item.type:<8} {item.kind}/{item.name}\t{addrs}", file=io.out)
        else:
            print(f"callgen: {item.text}", file=io.err)
        io.out.flush()
    return 0
