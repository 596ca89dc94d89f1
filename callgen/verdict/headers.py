"""``expect.headers``: the headers of the INVITE that reached the callee agent.

The INVITE is the one addressed to the callee's SIP port in the capture (after any
proxy, which may add, change or remove headers: that is what such a check is for).
Over TLS the capture holds no SIP text: the INVITE is read from the callee's own
pjsua log, and the check says so (evidence ``pjsua log``).
"""

from __future__ import annotations

from callgen.analysis import CaptureAnalysis, Dialog
from callgen.analysis.model import SipMessage
from callgen.analysis.sip import sip_messages_from_pjsua_log
from callgen.run.evidence import Evidence
from callgen.scenario.model import Call, Scenario
from callgen.verdict.media import check, host_port

#: an INVITE another dialog holds (a proxy that changes the Call-ID) still counts when this close in time
WINDOW_S = 1.0


def _initial(m: SipMessage) -> bool:
    """An initial INVITE: a request without a To tag (a re-INVITE has one)."""
    return m.method == "INVITE" and ";tag=" not in (m.header("To") or "").replace(" ", "")


def invite_at_callee(scenario: Scenario, evidence: Evidence, analysis: CaptureAnalysis, call: Call,
                     d: Dialog) -> tuple[SipMessage | None, str, str]:
    """(the initial INVITE that reached the callee, who received it, where it was read).
    A call to a URI (through a proxy) is looked for at every callee agent of the scenario."""
    names = [call.callee] if call.callee else [a.name for a in scenario.callees]
    lo, hi = d.messages[0].time - WINDOW_S, d.messages[-1].time + WINDOW_S
    for name in names:
        ag = evidence.agent(name)
        mine = {host_port(ag.address, ag.sip_port + k) for k in (0, 1)}
        wire = [m for m in d.messages if _initial(m) and m.dst in mine and m.transport != "log"]
        if not wire:  # a proxy that gives the callee's leg its own Call-ID (topoh)
            wire = sorted((m for other in analysis.dialogs for m in other.messages
                           if _initial(m) and m.dst in mine and m.transport != "log" and lo <= m.time <= hi),
                          key=lambda m: m.time)
        if wire:
            return wire[0], name, "capture"
    for name in names:  # SIP over TLS: what the callee's pjsua logged as received
        ag = evidence.agent(name)
        if ag.kind != "pjsua" or not ag.log_path.is_file():
            continue
        logged = [m for m in sip_messages_from_pjsua_log(str(ag.log_path)) if _initial(m)]
        same = [m for m in logged if m.call_id == d.call_id] or (
            [m for m in logged if lo <= m.time <= hi] if call.callee else [])
        if same:
            return same[0], name, f"pjsua log ({name})"
    return None, call.callee or "a callee agent", "capture"


def header_checks(scenario: Scenario, evidence: Evidence, analysis: CaptureAnalysis, call: Call, d: Dialog) -> list:
    """One check per expected header: ``callN.header.NAME``."""
    if not call.expect.headers:
        return []
    p = f"call{call.index + 1}"
    invite, callee, source = invite_at_callee(scenario, evidence, analysis, call, d)
    out = []
    for want in call.expect.headers:
        if invite is None:
            out.append(check(f"{p}.header.{want.name}", False, want.wanted, f"no INVITE reached {callee}",
                             f"{want.name}: no INVITE to {callee} in the {source} to read it from", source))
            continue
        values = [v for k, v in invite.headers if k.lower() == want.name.lower()]
        seen = "; ".join(f"{want.name}: {v}" for v in values) or f"no {want.name} header"
        ok = want.matches(values)
        if want.absent:
            reason = f"{want.name} reached {callee} ({values[0] if values else ''}) but should be absent"
        elif not values:
            reason = f"{want.name} is missing from the INVITE that reached {callee}"
        else:
            reason = f"{want.name} reached {callee} as {', '.join(repr(v) for v in values)}, not {want.wanted}"
        out.append(check(f"{p}.header.{want.name}", ok, want.wanted, seen, reason, source))
    return out
