"""Watching endpoints: list then watch, 410 Gone re-lists, every wait bounded."""

from __future__ import annotations

import argparse
import io
import time

import pytest
from k8s_helpers import NS, SA_USER, slice_obj

from callgen.cli.main import IO
from callgen.k8s import K8sAuthError, K8sTarget
from callgen.k8s.command import register
from callgen.k8s.watch import Change, Notice, watch_changes

SVC = K8sTarget.from_mapping({"k8s": {"namespace": NS, "service": "kamailio", "port": "sip"}})


def _summary(item: Change | Notice) -> tuple:
    if isinstance(item, Notice):
        return ("NOTICE",)
    return item.type, item.name, tuple(e.ip for e in item.endpoints)


def test_list_then_watch_events(kubeconfig, cluster) -> None:
    t0 = time.monotonic()
    gen = watch_changes(SVC, kubeconfig(), timeout=2.0)
    first = [_summary(next(gen)), _summary(next(gen))]
    assert first == [("ADDED", "kamailio-abcde", ("127.0.0.2", "127.0.0.3")),
                     ("ADDED", "kamailio-fghij", ("127.0.0.3", "127.0.0.4"))]
    # while the generator is suspended, the cluster changes; the watch resumes from the list's version
    cluster.put("endpointslices", NS, slice_obj("kamailio-abcde", "kamailio", [
        ("127.0.0.3", True, "kamailio-1"), ("127.0.0.9", True, "kamailio-9")]))
    cluster.put("endpointslices", NS, slice_obj("kamailio-klmno", "kamailio", [("127.0.0.5", True, "kamailio-5")]))
    cluster.put("endpointslices", NS, slice_obj("other-zzzzz", "other", [("127.0.0.51", True, "other-1")]))
    cluster.delete("endpointslices", NS, "kamailio-fghij")
    rest = [_summary(i) for i in gen]
    elapsed = time.monotonic() - t0
    assert rest == [("MODIFIED", "kamailio-abcde", ("127.0.0.3", "127.0.0.9")),
                    ("ADDED", "kamailio-klmno", ("127.0.0.5",)),
                    ("DELETED", "kamailio-fghij", ())]
    assert 1.9 <= elapsed < 3.5, elapsed
    watches = [r for r in cluster.requests if "watch=1" in r]
    assert watches and all("timeoutSeconds=" in r and "resourceVersion=" in r for r in watches)


@pytest.mark.parametrize("as_http", [False, True], ids=["error-event", "http-status"])
def test_410_gone_lists_again_and_reports_the_difference(in_cluster, cluster, as_http) -> None:
    cluster.gone_as_http = as_http
    gen = watch_changes(SVC, in_cluster(), timeout=1.5)
    assert [_summary(next(gen))[0] for _ in range(2)] == ["ADDED", "ADDED"]
    lists_before = sum(1 for r in cluster.requests if "watch=1" not in r)
    cluster.delete("endpointslices", NS, "kamailio-abcde")
    cluster.put("endpointslices", NS, slice_obj("kamailio-fghij", "kamailio", [("127.0.0.4", False, "kamailio-2")]))
    cluster.compact()  # the versions the client knows are gone
    rest = [_summary(i) for i in gen]
    assert rest[0] == ("NOTICE",)
    assert rest[1:] == [("MODIFIED", "kamailio-fghij", ()), ("DELETED", "kamailio-abcde", ())]
    assert sum(1 for r in cluster.requests if "watch=1" not in r) == lists_before + 1


def test_stalled_server_cannot_hold_the_watch(kubeconfig, cluster) -> None:
    cluster.stall_watches = True
    t0 = time.monotonic()
    items = list(watch_changes(SVC, kubeconfig(), timeout=1.0))
    elapsed = time.monotonic() - t0
    assert len(items) == 2
    assert elapsed < 2.5, elapsed


def test_quiet_watch_ends_at_timeout(kubeconfig, cluster) -> None:
    t0 = time.monotonic()
    items = list(watch_changes(SVC, kubeconfig(), timeout=1.2))
    elapsed = time.monotonic() - t0
    assert len(items) == 2
    assert 1.1 <= elapsed < 2.8, elapsed


def test_watch_forbidden_names_watch_verb(in_cluster, cluster) -> None:
    cluster.grants[SA_USER] = {("list", "endpointslices")}
    gen = watch_changes(SVC, in_cluster(), timeout=2)
    next(gen), next(gen)
    with pytest.raises(K8sAuthError) as info:
        next(gen)
    assert 'needs verb "watch" on endpointslices' in str(info.value)


def _run(argv: list[str]) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="callgen")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    out, err = io.StringIO(), io.StringIO()
    return args.func(args, IO(out, err)), out.getvalue(), err.getvalue()


def test_command_lists_endpoints(kubeconfig, monkeypatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    cfg = kubeconfig()
    rc, out, err = _run(["k8s", "endpoints", "-n", NS, "--service", "kamailio", "--port", "sip",
                         "--kubeconfig", str(cfg.kubeconfig)])
    assert rc == 0, err
    assert out.splitlines() == ["127.0.0.2:5060\tkamailio-0", "127.0.0.3:5060\tkamailio-1", "127.0.0.4:5060\tkamailio-2"]


def test_command_watch_prints_events(in_cluster, cluster, monkeypatch) -> None:
    cfg = in_cluster()
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", cfg.service_host)
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", cfg.service_port)
    monkeypatch.setenv("CALLGEN_K8S_SERVICEACCOUNT_DIR", str(cfg.service_account_dir))
    cluster.on_watch.append(lambda: cluster.put(
        "endpointslices", NS, slice_obj("kamailio-klmno", "kamailio", [("127.0.0.5", True, "kamailio-5")])))
    rc, out, err = _run(["k8s", "endpoints", "-n", NS, "--service", "kamailio", "--watch", "--timeout", "1.5"])
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("ADDED    endpointslice/kamailio-abcde\t127.0.0.2:5060 (kamailio-0)")
    assert lines[-1] == "ADDED    endpointslice/kamailio-klmno\t127.0.0.5:5060 (kamailio-5)"
    assert len(lines) == 3


def test_command_no_ready_endpoints_exit_1(kubeconfig, cluster) -> None:
    cluster.put("endpointslices", NS, slice_obj("down-aaaaa", "down", [("127.0.0.30", False, "down-0")]))
    cfg = kubeconfig()
    rc, out, err = _run(["k8s", "endpoints", "-n", NS, "--service", "down", "--kubeconfig", str(cfg.kubeconfig)])
    assert (rc, out) == (1, "")
    assert "none of 1 endpoint(s)" in err


def test_command_rejects_bad_arguments() -> None:
    from callgen.errors import UsageError

    with pytest.raises(UsageError, match="k8s.namespace"):
        _run(["k8s", "endpoints", "-n", "Bad_NS", "--service", "kamailio"])
    with pytest.raises(UsageError, match="--timeout"):
        _run(["k8s", "endpoints", "-n", NS, "--service", "kamailio", "--timeout", "0"])
    with pytest.raises(SystemExit):
        _run(["k8s", "endpoints", "-n", NS, "--service", "a", "--selector", "b=c"])
