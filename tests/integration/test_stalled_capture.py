"""A capture that stops receiving mid-run is an infrastructure error (issue #20, item 4).

A real tcpdump is stopped with SIGSTOP right after the call is answered by a SIPp
far end; the call goes on (BYE, 200 OK) without the capture seeing it. callgen must
say the capture stalled (exit 3, naming tcpdump), not blame the call.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from callgen.sut.sipp import start_sipp
from tests.integration.sipp_far_end import uac_call

pytestmark = [pytest.mark.integration, pytest.mark.tool("sipp")]

BODY = "name: stall\ntimeout: 60\n" + uac_call(4)


def _tcpdump_writing_under(folder: Path) -> int | None:
    """The pid of the tcpdump whose command line writes into ``folder`` (this run's capture)."""
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"tcpdump") and any(str(folder).encode() in a for a in argv):
            return int(d)
    return None


def _rtp_captured(pcap: Path) -> int:
    """RTP packets the capture (written packet by packet, tcpdump -U) holds so far."""
    from callgen.analysis import analyze_capture
    from callgen.errors import CaptureFormatError

    try:
        return sum(s.packets for s in analyze_capture(str(pcap), partial=True).rtp_streams)
    except CaptureFormatError:
        return 0


def _await(what: str, pred, timeout: float = 20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = pred()
        if got:
            return got
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def test_tcpdump_stopped_mid_call_is_an_infrastructure_error(cli, tmp_path, pjsua_bin):
    scenario = tmp_path / "stall.yaml"
    scenario.write_text(BODY, encoding="utf-8")
    out = tmp_path / "out"
    result: dict = {}
    with start_sipp(tmp_path, scenario="uas", service="peer", calls=1, timeout_s=60) as sipp:
        runner = threading.Thread(target=lambda: result.setdefault(
            "r", cli("run", str(scenario), "-o", str(out), "--var", f"PEER={sipp.uri}")))
        runner.start()
        pid = None
        try:
            pid = _await("tcpdump to start", lambda: _tcpdump_writing_under(out))
            pcap = out / "stall" / "capture.pcap"
            _await("the call's RTP in the capture", lambda: _rtp_captured(pcap) >= 5)
            os.kill(pid, signal.SIGSTOP)  # the capture stalls; the call goes on
            runner.join(120)
        finally:
            if pid is not None and Path(f"/proc/{pid}").exists():
                os.kill(pid, signal.SIGCONT)
            runner.join(120)
    r = result["r"]
    assert r.status == 3, r.out + r.err
    res = json.loads((out / "stall" / "result.json").read_text())
    assert res["verdict"] == "error"
    cap = {c["name"]: c for c in res["checks"]}["capture.complete"]
    assert not cap["passed"] and cap["evidence"] == "tcpdump", cap
    assert "tcpdump" in cap["reason"] and "SIGINT" in cap["reason"], cap
    assert "alice" in cap["reason"] and "after the capture's last packet" in cap["reason"], cap
    # alice's pjsua counted the RTP it sent after the capture stopped: its counters say so too
    counters = {c["name"]: c for c in res["checks"]}["call1.rtp_counters[alice]"]
    assert not counters["passed"] and counters["evidence"] == "pjsua log alice vs capture", counters
    assert "alice's pjsua sent" in counters["reason"] and "the capture missed traffic" in counters["reason"], counters
    assert pid is not None and not Path(f"/proc/{pid}").exists() or \
        open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] == "Z", "tcpdump must not outlive the run"
