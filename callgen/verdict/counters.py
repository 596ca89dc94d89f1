"""pjsua's own RTP counters against the capture (issue 20's leftover of the stall check).

Every pjsua agent prints, as a call's media ends, how many RTP packets its stream
received and sent (``callgen.pjsua.calldump``).  The capture must agree with it on
that agent's leg, within a slack for packets in flight at hang-up:

- pjsua counted **more** than the capture holds: the capture missed traffic the agent
  really exchanged (a stalled or dropping capture tool) - the run cannot prove anything,
  an **infrastructure error** naming the capture, as ``capture.complete`` is;
- the capture holds **more** than pjsua counted: packets reached (or seemed to leave)
  the agent's media address that its stream never took (a wrong payload type or SSRC,
  SRTP that failed authentication, a full socket buffer) - the call fails.

pjsua builds a new stream at each re-negotiation (hold, unhold) and its counters are
that last stream's; the capture is then counted from the answer that built it on (per
100 ms bin of the stream's timeline).  Loss an agent inflicts on itself (``impair:``)
is not counted by its stream on the side it is applied, so that side is not compared.
"""

from __future__ import annotations

from dataclasses import dataclass

from callgen.analysis import CaptureAnalysis, Dialog, RtpStream
from callgen.pjsua.calldump import CallDump, call_dumps
from callgen.run.evidence import Evidence
from callgen.scenario.model import Call, Scenario
from callgen.verdict.legs import CALLEE, CALLER, CallLeg, CallLegs, sdp_addresses
from callgen.verdict.result import CheckResult, check

#: packets pjsua's counters and the capture may differ by: at 50 packets/s, 200 ms in flight
#: at hang-up; a larger share for long calls
SLACK_PACKETS = 10
SLACK_PCT = 5.0


def agree(a: int, b: int) -> bool:
    """Two packet counts of one direction agree within the slack."""
    return abs(a - b) <= max(SLACK_PACKETS, SLACK_PCT / 100 * max(a, b))


def _tags(d: Dialog) -> set[str]:
    out = set()
    for m in d.messages:
        for name in ("From", "To"):
            for part in (m.header(name) or "").split(";")[1:]:
                k, _, v = part.strip().partition("=")
                if k.lower() == "tag" and v:
                    out.add(v.strip())
    return out


def renegotiated_at(d: Dialog) -> float | None:
    """When the last in-dialog offer/answer (re-INVITE, UPDATE) was answered 2xx with SDP;
    None when the call had only its first one."""
    cseqs = {(m.cseq, m.method) for m in d.messages
             if m.method in ("INVITE", "UPDATE") and m.sdp is not None and "tag=" in (m.header("To") or "").replace(" ", "")}
    times = [m.time for m in d.messages if m.status is not None and 200 <= m.status < 300 and m.sdp is not None
             and (m.cseq, m.cseq_method) in cseqs]
    return max(times) if times else None


def _packets(s: RtpStream, since: float | None) -> int | None:
    """The stream's packets, only those from ``since`` on when given (None: no timeline to tell)."""
    if since is None:
        return s.packets
    tl = s.timeline
    if tl is None:
        return None
    width = tl.bin_ms / 1000
    return sum(c for i, c in enumerate(tl.counts) if tl.start + (i + 0.5) * width >= since)


@dataclass(frozen=True)
class Counted:
    """One agent's account and the capture's, for one call."""

    rx_pjsua: int
    tx_pjsua: int
    rx_capture: int
    tx_capture: int


def _count(analysis: CaptureAnalysis, leg: CallLeg, role: str, dump: CallDump) -> Counted | None:
    audio = dump.audio()
    if audio is None:
        return None
    init, recip = sdp_addresses(leg.dialog)
    mine = init if role == CALLER else recip
    start = leg.dialog.messages[0].time - 0.5
    since = renegotiated_at(leg.dialog)
    ours = [s for s in analysis.rtp_streams if start <= s.first_time <= dump.time + 1.0]
    rx = [_packets(s, since) for s in ours if s.dst in mine]
    tx = [_packets(s, since) for s in ours if s.src in mine]
    if None in rx or None in tx:
        return None
    return Counted(audio.rx_packets or 0, audio.tx_packets or 0, sum(rx), sum(tx))


def _judge(agent: str, c: Counted, where: str, rx_impaired: bool, tx_impaired: bool) -> tuple[bool, str, str]:
    """(passed, reason, infrastructure problem) for one agent's counts."""
    missed, extra = [], []
    for what, ours, cap, impaired_own, impaired_cap in (
            ("received", c.rx_pjsua, c.rx_capture, False, rx_impaired),
            ("sent", c.tx_pjsua, c.tx_capture, tx_impaired, False)):
        if agree(ours, cap):
            continue
        if ours > cap and not impaired_own:
            missed.append(f"{agent}'s pjsua {what} {ours} RTP packets, the capture holds {cap} {where}")
        elif cap > ours and not impaired_cap:
            toward = "toward" if what == "received" else "from"
            extra.append(f"the capture shows {cap} RTP packets {toward} {agent}'s media address {where}, "
                         f"its pjsua {what} {ours}")
    if missed:
        return False, "; ".join(missed) + ": the capture missed traffic the agent exchanged", "; ".join(missed)
    if extra:
        return False, "; ".join(extra) + (": pjsua never took them (wrong payload type or SSRC, failed SRTP, a full "
                                         "socket buffer)" if any("toward" in e for e in extra) else ""), ""
    return True, "", ""


def counter_checks(p: str, scenario: Scenario, evidence: Evidence, analysis: CaptureAnalysis, call: Call,
                   legs: CallLegs, dumps: dict[str, list[CallDump]]) -> tuple[list[CheckResult], list[str]]:
    """``callN.rtp_counters[A]`` for each pjsua agent of an answered call whose log printed its
    counters for this call; and the infrastructure problems (the capture missed packets).
    ``dumps``: each agent's call dumps, filled on first use."""
    d = legs.caller.dialog
    if d.final_code is None or not 200 <= d.final_code < 300:
        return [], []
    out, problems = [], []
    for role, name in ((CALLER, call.caller), (CALLEE, call.callee)):
        if name is None or name not in {a.name for a in evidence.agents} or not scenario.agent(name).is_pjsua:
            continue
        leg = legs.leg(role)
        if leg is None:
            continue
        if name not in dumps:
            dumps[name] = call_dumps(evidence.agent(name).log_path)
        tags = _tags(leg.dialog)
        dump = next((x for x in reversed(dumps[name]) if x.remote_tag and x.remote_tag in tags), None)
        counted = _count(analysis, leg, role, dump) if dump is not None else None
        if counted is None:
            continue
        impair = scenario.agent(name).impair
        where = f"on {leg.describe()}"
        ok, reason, problem = _judge(name, counted, where, impair.rx_loss_pct > 0, impair.tx_loss_pct > 0)
        seen = (f"pjsua log: received {counted.rx_pjsua}, sent {counted.tx_pjsua}; capture: {counted.rx_capture} toward "
                f"{name}, {counted.tx_capture} from {name}")
        out.append(check(f"{p}.rtp_counters[{name}]", ok, f"{name}'s pjsua RTP counters agree with the capture "
                         f"(within {SLACK_PACKETS} packets or {SLACK_PCT:g} %)", seen, reason,
                         f"pjsua log {name} vs capture"))
        if problem:
            problems.append(f"{problem} ({evidence.capture.tool} missed packets)")
    return out, problems
