"""Capture backends with real processes on lo: tcpdump and dumpcap write exactly
the packets sent, stop leaves no process, the factory picks the backend, and under
setpriv with CAP_NET_RAW alone "auto" still captures (with dumpcap)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from callgen.analysis.pcapio import LINKTYPE_ETHERNET, read_packets
from callgen.errors import InfrastructureError, UsageError
from callgen.run import capture
from callgen.run.capture import (
    CAP_NET_RAW,
    CAP_SETGID,
    CAPTURE_ENV,
    Dumpcap,
    Tcpdump,
    capture_tool,
    find_dumpcap,
    find_tcpdump,
    make_capture,
    tcpdump_can_drop_privileges,
)

ROOT = Path(__file__).resolve().parents[2]
BACKENDS = {"tcpdump": (Tcpdump, find_tcpdump), "dumpcap": (Dumpcap, find_dumpcap)}


def udp_records(path: Path) -> list[tuple[int, int, int, bytes]]:
    """(linktype, source port, destination port, payload) of every IPv4/UDP packet, Ethernet-framed."""
    out = []
    for _t, linktype, buf, start, end in read_packets(str(path)):
        frame = bytes(buf[start:end])
        assert linktype == LINKTYPE_ETHERNET
        if struct.unpack_from("!H", frame, 12)[0] != 0x0800:
            continue
        ihl = (frame[14] & 0x0F) * 4
        if frame[23] != 17:
            continue
        udp = 14 + ihl
        sport, dport, length = struct.unpack_from("!HHH", frame, udp)
        out.append((linktype, sport, dport, frame[udp + 8: udp + length]))
    return out


def bound_udp() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    return s


def receive_all(sock: socket.socket, payloads: list[bytes], timeout: float = 5.0) -> None:
    """Wait (bounded) until ``sock`` got every payload: then the capture socket has them too."""
    sock.settimeout(timeout)
    got = [sock.recv(2048) for _ in payloads]
    assert got == payloads


def gone(pid: int) -> bool:
    return not Path(f"/proc/{pid}").exists()


@pytest.fixture
def backend(need_tool):
    """``backend(name)``: the capture class, once the tool is there (skip here, fail in CI)."""

    def found(name: str):
        need_tool(name)
        return BACKENDS[name][0]

    return found


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_backend_captures_exactly_the_packets_sent(name, tmp_path, backend):
    cls = backend(name)
    rx, other, tx = bound_udp(), bound_udp(), bound_udp()
    port, other_port, tx_port = rx.getsockname()[1], other.getsockname()[1], tx.getsockname()[1]
    pcap = tmp_path / f"{name}.pcap"
    cap = cls(pcap, f"udp and dst port {port}")
    cap.start(timeout=10)
    pid = cap.pid
    try:
        sent = [f"{name}-{i:03d}".encode() for i in range(20)]
        for i, payload in enumerate(sent):
            tx.sendto(payload, ("127.0.0.1", port))
            if i % 4 == 0:
                tx.sendto(b"not-for-the-filter", ("127.0.0.1", other_port))
        receive_all(rx, sent)
        receive_all(other, [b"not-for-the-filter"] * 5)
    finally:
        stats = cap.stop(timeout=10)
        for s in (rx, other, tx):
            s.close()
    assert gone(pid), f"{name} pid {pid} still there after stop()"
    recs = udp_records(pcap)
    assert [r[3] for r in recs] == sent  # all of them, in order, and nothing else
    assert {r[2] for r in recs} == {port} and {r[1] for r in recs} == {tx_port}
    assert stats.captured == len(sent), stats.stderr
    assert stats.dropped_by_kernel == 0, stats.stderr
    assert pcap.read_bytes()[:4] == struct.pack("<I", 0xA1B2C3D4)  # pcap, not pcapng


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_stop_right_after_start_ends_the_process(name, tmp_path, backend):
    """A stop straight after the ready line must still end the tool (dumpcap may miss an early SIGINT)."""
    cls = backend(name)
    for i in range(3):
        cap = cls(tmp_path / f"{i}.pcap", "udp and port 9")
        cap.start(timeout=10)
        pid = cap.pid
        stats = cap.stop(timeout=10)
        assert gone(pid), f"round {i}: {name} still running"
        assert stats.captured == 0, stats.stderr
        assert udp_records(tmp_path / f"{i}.pcap") == []


def test_stop_before_start_and_argv():
    assert Dumpcap(Path("x.pcap"), "udp").stop().captured is None
    argv = Dumpcap(Path("x.pcap"), "udp port 5", interface="lo", binary="/usr/bin/dumpcap").argv()
    assert argv == ["/usr/bin/dumpcap", "-i", "lo", "-p", "-q", "-P", "-B", "32", "-w", "x.pcap", "-f", "udp port 5"]
    assert Tcpdump(Path("x.pcap"), "udp", binary="/usr/bin/tcpdump").argv()[:10] == [
        "/usr/bin/tcpdump", "-i", "lo", "-n", "-U", "-s", "0", "-B", "32768", "-w"]


def test_missing_binary_is_an_infrastructure_error(tmp_path):
    cap = Dumpcap(tmp_path / "x.pcap", "udp")
    cap.binary = None
    with pytest.raises(InfrastructureError, match="wireshark-common"):
        cap.start(timeout=1)


def test_tool_that_exits_at_start_is_reported(tmp_path, backend):
    cap = backend("dumpcap")(tmp_path / "x.pcap", "udp", interface="no-such-if0")
    with pytest.raises(InfrastructureError, match="dumpcap exited at start"):
        cap.start(timeout=10)
    assert gone(cap.pid)


# --- selection --------------------------------------------------------------------------------


def test_env_var_selects_the_backend(monkeypatch, tmp_path):
    monkeypatch.setattr(capture, "find_tcpdump", lambda: "/usr/bin/tcpdump")
    monkeypatch.setattr(capture, "find_dumpcap", lambda: "/usr/bin/dumpcap")
    monkeypatch.setenv(CAPTURE_ENV, "dumpcap")
    assert isinstance(make_capture(tmp_path / "a.pcap", "udp"), Dumpcap)
    monkeypatch.setenv(CAPTURE_ENV, "TCPDUMP")
    assert isinstance(make_capture(tmp_path / "a.pcap", "udp"), Tcpdump)
    assert isinstance(make_capture(tmp_path / "a.pcap", "udp", tool="dumpcap"), Dumpcap)  # the argument wins
    monkeypatch.setenv(CAPTURE_ENV, "wireshark")
    with pytest.raises(UsageError, match=CAPTURE_ENV):
        make_capture(tmp_path / "a.pcap", "udp")
    with pytest.raises(UsageError, match="one of tcpdump, dumpcap, auto"):
        capture_tool("pcapd")
    monkeypatch.delenv(CAPTURE_ENV)
    cap = make_capture(tmp_path / "a.pcap", "udp port 7", interface="lo")
    assert (cap.pcap_path, cap.bpf, cap.interface) == (tmp_path / "a.pcap", "udp port 7", "lo")


def test_auto_follows_the_capabilities(monkeypatch):
    monkeypatch.delenv(CAPTURE_ENV, raising=False)
    monkeypatch.setattr(capture, "find_tcpdump", lambda: "/usr/bin/tcpdump")
    monkeypatch.setattr(capture, "find_dumpcap", lambda: "/usr/bin/dumpcap")
    monkeypatch.setattr(capture.os, "geteuid", lambda: 0)
    monkeypatch.setattr(capture, "effective_capabilities", lambda: (1 << CAP_NET_RAW) | (1 << CAP_SETGID))
    assert capture_tool() == "tcpdump"
    monkeypatch.setattr(capture, "effective_capabilities", lambda: 1 << CAP_NET_RAW)  # the pod case
    assert capture_tool() == "dumpcap" == capture_tool("auto")
    assert capture_tool("tcpdump") == "tcpdump"  # asked for by name: no second-guessing
    monkeypatch.setattr(capture, "find_dumpcap", lambda: None)
    assert capture_tool() == "tcpdump"  # the only one there; it will say why it cannot start
    monkeypatch.setattr(capture, "find_tcpdump", lambda: None)
    with pytest.raises(InfrastructureError, match="neither tcpdump nor dumpcap") as e:
        capture_tool()
    assert "wireshark-common" in str(e.value) and "NET_RAW" in str(e.value)
    with pytest.raises(InfrastructureError, match="dumpcap not found.*NET_RAW"):
        make_capture(Path("x.pcap"), "udp", tool="dumpcap")


def test_tcpdump_privilege_rule():
    assert tcpdump_can_drop_privileges(caps=1 << CAP_NET_RAW, euid=1000)
    assert not tcpdump_can_drop_privileges(caps=1 << CAP_NET_RAW, euid=0)
    assert tcpdump_can_drop_privileges(caps=(1 << CAP_NET_RAW) | (1 << CAP_SETGID), euid=0)
    assert tcpdump_can_drop_privileges(caps=None, euid=0)  # no /proc: try tcpdump


def test_effective_capabilities_reads_proc(tmp_path):
    f = tmp_path / "status"
    f.write_text("Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t0000000000002000\n")
    assert capture.effective_capabilities(str(f)) == 1 << CAP_NET_RAW
    assert capture.effective_capabilities(str(tmp_path / "missing")) is None


# --- a pod with only CAP_NET_RAW, emulated with setpriv ------------------------------------------

NET_RAW_ONLY = ["--inh-caps=-all,+net_raw", "--ambient-caps=-all,+net_raw", "--bounding-set=-all,+net_raw"]

CHILD = textwrap.dedent("""
    import json, os, socket, sys
    sys.path.insert(0, sys.argv[1])
    from pathlib import Path
    from callgen.run import capture
    from callgen.analysis.pcapio import read_packets
    from callgen.errors import InfrastructureError
    d = Path(sys.argv[2])
    out = {"caps": capture.effective_capabilities(), "euid": os.geteuid()}
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); rx.bind(("127.0.0.1", 0))
    port = rx.getsockname()[1]
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def run(cap, name):
        pid = cap.pid
        sent = [b"%s-%d" % (name.encode(), i) for i in range(7)]
        for payload in sent:
            tx.sendto(payload, ("127.0.0.1", port))
        rx.settimeout(5)
        assert [rx.recv(100) for _ in sent] == sent
        stats = cap.stop(timeout=10)
        payloads = [bytes(b[e - 2 - len(name):e]) for _t, _l, b, s, e in read_packets(str(cap.pcap_path))]
        out[name] = {"tool": cap.tool, "exact": payloads == sent, "captured": stats.captured,
                     "ended": not os.path.exists(f"/proc/{pid}")}

    plain = capture.Tcpdump(d / "tcpdump.pcap", f"udp and dst port {port}")
    try:
        plain.start(timeout=10)
        out["tcpdump_alone"] = "started"
        plain.stop()
    except InfrastructureError as exc:
        out["tcpdump_alone"] = str(exc)
    out["auto_choice"] = capture.capture_tool("auto")
    cap = capture.make_capture(d / "auto.pcap", f"udp and dst port {port}", tool="auto")
    cap.start(timeout=10)
    run(cap, "auto")
    # the start-time fallback: pretend the capability check said yes, tcpdump is refused, dumpcap takes over
    capture.tcpdump_can_drop_privileges = lambda *a, **k: True
    cap = capture.start_capture(d / "fallback.pcap", f"udp and dst port {port}", tool="auto", timeout=10)
    run(cap, "fallback")
    print(json.dumps(out))
""")


def setpriv_net_raw_only() -> str | None:
    """None when setpriv can run a uid-0 child whose effective set is CAP_NET_RAW alone, else why not."""
    if os.geteuid() != 0:
        return "needs uid 0 (setpriv may only lower capabilities of a root process here)"
    if not shutil.which("setpriv"):
        return "setpriv (util-linux) not installed"
    argv = ["setpriv", *NET_RAW_ONLY, "--", sys.executable, "-c",
            "print(open('/proc/self/status').read())"]
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"setpriv {' '.join(NET_RAW_ONLY)} failed: {exc}"
    eff = [ln.split()[1] for ln in p.stdout.splitlines() if ln.startswith("CapEff:")]
    if p.returncode != 0 or eff != [f"{1 << CAP_NET_RAW:016x}"]:
        return f"setpriv {' '.join(NET_RAW_ONLY)} gave rc={p.returncode} CapEff={eff} ({p.stderr.strip()[:200]})"
    return None


def test_auto_captures_with_cap_net_raw_only(tmp_path, need_tool):
    why = setpriv_net_raw_only()
    if why:
        pytest.skip(why)
    need_tool("tcpdump", "dumpcap")
    p = subprocess.run(["setpriv", *NET_RAW_ONLY, "--", sys.executable, "-c", CHILD, str(ROOT), str(tmp_path)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out["caps"] == 1 << CAP_NET_RAW and out["euid"] == 0
    assert "Couldn't change" in out["tcpdump_alone"] and "dumpcap" in out["tcpdump_alone"], out
    assert out["auto_choice"] == "dumpcap"
    for name in ("auto", "fallback"):
        assert out[name] == {"tool": "dumpcap", "exact": True, "captured": 7, "ended": True}, out


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_settle_counts_from_when_the_senders_went_quiet(name, tmp_path, backend):
    """Without an end marker: the runner knows when its senders went quiet (it asked idle
    agents to quit, and they took their second to exit): a stop after that needs no second
    settle, and still has every packet; a stop told 'quiet since now' waits the whole settle."""
    cls = backend(name)
    rx, tx = bound_udp(), bound_udp()
    port = rx.getsockname()[1]
    cap = cls(tmp_path / f"{name}.pcap", f"udp and dst port {port}", end_marker=False)
    cap.start(timeout=10)
    try:
        sent = [f"{name}-{i:03d}".encode() for i in range(20)]
        for payload in sent:
            tx.sendto(payload, ("127.0.0.1", port))
        receive_all(rx, sent)
        quiet = time.monotonic()
        # the agents' own exit: a wait nothing can end early (an event no one sets)
        threading.Event().wait(cls.settle)
        t0 = time.monotonic()
        stats = cap.stop(timeout=10, quiet_since=quiet)
        took = time.monotonic() - t0
    finally:
        rx.close()
        tx.close()
    assert [r[3] for r in udp_records(tmp_path / f"{name}.pcap")] == sent
    assert stats.captured == len(sent) and stats.dropped_by_kernel == 0, stats.stderr
    assert took < cls.settle * 0.8, f"stop took {took:.2f} s although the settle had passed"

    cap2 = cls(tmp_path / f"{name}-2.pcap", f"udp and dst port {port}", end_marker=False)
    cap2.start(timeout=10)
    t0 = time.monotonic()
    cap2.stop(timeout=10, quiet_since=time.monotonic())
    assert time.monotonic() - t0 >= cls.settle


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_the_last_packets_sent_right_before_stop_are_kept_without_a_settle(name, tmp_path, backend):
    """A call's last packets (its BYE and the 200) sent right before stop(), with no
    quiet_since: the end marker proves they are written, so the stop needs no block
    timeout (tcpdump's 1 s); the file and the count hold exactly the packets sent,
    no marker record."""
    cls = backend(name)
    rx, tx = bound_udp(), bound_udp()
    port = rx.getsockname()[1]
    pcap = tmp_path / f"{name}.pcap"
    cap = cls(pcap, f"udp and dst port {port}")
    cap.start(timeout=10)
    try:
        sent = [f"INVITE {i}".encode() for i in range(10)] + [b"BYE sip:bob@127.0.0.1", b"SIP/2.0 200 OK"]
        for payload in sent:
            tx.sendto(payload, ("127.0.0.1", port))
        receive_all(rx, sent)
        t0 = time.monotonic()
        stats = cap.stop(timeout=10)
        took = time.monotonic() - t0
    finally:
        rx.close()
        tx.close()
    assert [r[3] for r in udp_records(pcap)] == sent
    assert stats.captured == len(sent) and stats.dropped_by_kernel == 0, stats.stderr
    assert took < 0.4, f"stop took {took:.2f} s: the end marker did not spare the block timeout"
    assert cap.markers_removed >= 1
    assert b"callgen-capture-end" not in pcap.read_bytes()


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_packets_sent_from_every_cpu_right_before_stop_are_kept(name, tmp_path, backend):
    """Loopback queues a packet on the sending CPU: bursts from a thread on each CPU,
    stopped as soon as the receiver has them, all end up in the file."""
    cls = backend(name)
    rx = bound_udp()
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    port = rx.getsockname()[1]
    pcap = tmp_path / f"{name}.pcap"
    cap = cls(pcap, f"udp and dst port {port}")
    cap.start(timeout=10)
    cpus = sorted(os.sched_getaffinity(0))
    sent: dict[int, list[bytes]] = {}

    def burst(cpu: int) -> None:
        os.sched_setaffinity(0, {cpu})
        tx = bound_udp()
        sent[cpu] = [f"cpu{cpu}-{i:03d}".encode() for i in range(100)]
        for payload in sent[cpu]:
            tx.sendto(payload, ("127.0.0.1", port))
        tx.close()

    try:
        threads = [threading.Thread(target=burst, args=(c,)) for c in cpus]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        want = [p for c in cpus for p in sent[c]]
        rx.settimeout(5)
        got = [rx.recv(2048) for _ in want]
        stats = cap.stop(timeout=10)
    finally:
        rx.close()
    assert sorted(got) == sorted(want)
    recs = [r[3] for r in udp_records(pcap)]
    assert sorted(recs) == sorted(want)
    assert stats.captured == len(want) and stats.dropped_by_kernel == 0, stats.stderr


def _pcap(records: list[bytes]) -> bytes:
    head = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)
    return head + b"".join(struct.pack("<IIII", 1, 0, len(r), len(r)) + r for r in records)


def _udp_frame(src_port: int, dst_port: int, payload: bytes) -> bytes:
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28 + len(payload), 0, 0, 64, 17, 0,
                     bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]))
    return b"\0" * 12 + b"\x08\x00" + ip + struct.pack("!HHHH", src_port, dst_port, 8 + len(payload), 0) + payload


def test_the_end_marker_port_is_above_every_run_block():
    """A port of the kernel's ephemeral range may lie in another run's block: that run's
    capture took this marker's datagrams (seen with -j 4), and its agent could not bind it."""
    from callgen.run.ports import LAST

    markers = [capture.EndMarker.open() for _ in range(20)]
    try:
        assert all(m is not None and LAST <= m.port <= 65535 for m in markers), [m and m.port for m in markers]
    finally:
        for m in markers:
            if m is not None:
                m.close()


def test_strip_markers_cuts_only_the_markers_own_records(tmp_path):
    """Markers are cut wherever they sit after the start offset; a packet of the run between
    them, a datagram to the marker's port from another port, and a cut last record stay."""
    marker = capture.EndMarker.open()
    assert marker is not None
    try:
        p = marker.port
        before = [_udp_frame(5060, 5062, b"INVITE"), _udp_frame(5062, 5060, b"SIP/2.0 200 OK")]
        after = [_udp_frame(p, p, marker.prefix + b"S0-"), _udp_frame(5060, 5062, b"late BYE"),
                 _udp_frame(p, p, marker.prefix + b"F-" + b"\0" * 100), _udp_frame(4000, p, marker.prefix + b"S1-"),
                 _udp_frame(p, p, marker.prefix + b"S1-")]
        path = tmp_path / "c.pcap"
        head = _pcap(before)
        body = _pcap(after)[24:]
        cut = struct.pack("<IIII", 1, 0, 500, 500) + b"x" * 20
        path.write_bytes(head + body + cut)
        assert capture.strip_markers(path, len(head), marker) == 3
        assert path.read_bytes() == head + _pcap([after[1], after[3]])[24:] + cut
        assert capture.strip_markers(path, len(head), marker) == 0  # nothing left to cut
    finally:
        marker.close()


def test_an_end_marker_that_never_reaches_the_file_is_a_capture_problem(tmp_path, backend, monkeypatch):
    """Should the tool not write the end marker (here: its filter does not take it), the
    stop waits its bound, then says the run's last packets may be missing."""
    cls = backend("tcpdump")
    monkeypatch.setattr(capture.EndMarker, "bpf", lambda self: "udp and port 9")
    rx, tx = bound_udp(), bound_udp()
    port = rx.getsockname()[1]
    cap = cls(tmp_path / "t.pcap", f"udp and dst port {port}")
    cap.start(timeout=10)
    try:
        tx.sendto(b"BYE", ("127.0.0.1", port))
        receive_all(rx, [b"BYE"])
        stats = cap.stop(timeout=2)
    finally:
        rx.close()
        tx.close()
    assert stats.end_unconfirmed is not None and stats.end_unconfirmed >= 0.9
    assert any("end marker" in p and "last packets may be missing" in p for p in stats.problems()), stats.problems()
    assert [r[3] for r in udp_records(tmp_path / "t.pcap")] == [b"BYE"]  # the block timeout wrote it meanwhile


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_a_confirmed_end_is_no_problem(name, tmp_path, backend):
    cls = backend(name)
    cap = cls(tmp_path / "c.pcap", "udp and port 9")
    cap.start(timeout=10)
    stats = cap.stop(timeout=10)
    assert stats.end_unconfirmed is None and stats.problems() == [], stats


def test_a_tool_that_dies_while_the_stop_waits_for_its_marker_is_named_dead(tmp_path, backend, monkeypatch):
    """Seen in CI: tcpdump killed at a run's start died just after the stop looked at it; the stop
    then waited for the end marker in vain and reported a missing marker instead of the death."""
    cls = backend("tcpdump")
    cap = cls(tmp_path / "d.pcap", "udp and port 9")
    cap.start(timeout=10)

    def dies(proc, marker, until):
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
        return None, False

    monkeypatch.setattr(cap, "_mark_end", dies)
    stats = cap.stop(timeout=5)
    assert stats.exited_early and stats.end_unconfirmed is None, stats
    assert any("died during the run (killed by signal 9)" in p for p in stats.problems()), stats.problems()
