"""Blind transfer (``transfer: {by, to}``), proven from the capture: the REFER from the
transferor and its 202, the NOTIFY sipfrags back to it up to the final status, and the
new call the transferee placed to the target (an INVITE with Referred-By) and its answer.
Redirect (``redirect_to``): the callee's 3xx with the target as Contact, then the caller's
new INVITE (same Call-ID, next CSeq) to the target and its answer."""

from __future__ import annotations

import re

from callgen.analysis import CaptureAnalysis, Dialog
from callgen.analysis.model import SipMessage
from callgen.run.evidence import Evidence
from callgen.run.plan import uri_port
from callgen.scenario.model import Call, Scenario, TransferStep
from callgen.verdict.media import check, host_port, sent_by

_SIPFRAG = re.compile(rb"^SIP/2\.0 (\d{3})")
_URI_HOST = re.compile(r"^sips?:(?:[^@;>]*@)?(\[[^\]]+\]|[^:;>?]+)")


def referred(m: SipMessage) -> bool:
    """An INVITE a transfer caused (RFC 3892 Referred-By): not one of the scenario's own calls."""
    return m.method == "INVITE" and m.header("Referred-By") is not None


def transfer_checks(scenario: Scenario, evidence: Evidence, analysis: CaptureAnalysis, call: Call, d: Dialog) -> list:
    out = []
    for j, st in enumerate(s for s in call.steps if isinstance(s, TransferStep)):
        p = f"call{call.index + 1}.transfer" + (f"{j + 1}" if j else "")
        out += _one(p, scenario, evidence, analysis, st, d)
    return out


def _target_ports(evidence: Evidence, st: TransferStep) -> set[str]:
    """host:port where the transfer target listens (an agent: its SIP and TLS ports)."""
    return _ports_of(evidence, st.to)


def _ports_of(evidence: Evidence, to: str) -> set[str]:
    if not to.startswith(("sip:", "sips:")):
        target = evidence.agent(to)
        return {host_port(target.address, target.sip_port + k) for k in (0, 1)}
    m = _URI_HOST.match(to)
    host = m[1].strip("[]") if m else ""
    return {host_port(host, uri_port(to) or 5060)}


def redirect_checks(scenario: Scenario, evidence: Evidence, call: Call, d: Dialog) -> list:
    """``callN.redirect``: the callee's 3xx named the target in Contact, and the caller's next
    INVITE went there and was answered."""
    if call.callee is None or not scenario.agent(call.callee).redirect_to:
        return []
    to = scenario.agent(call.callee).redirect_to
    callee = evidence.agent(call.callee)
    mine = {host_port(callee.address, callee.sip_port + k) for k in (0, 1)}
    target = _ports_of(evidence, to)
    redirects = [m for m in d.messages if m.status is not None and 300 <= m.status < 400 and m.cseq_method == "INVITE"
                 and m.src in mine]
    contact = redirects[0].header("Contact") or "" if redirects else ""
    followed = [m for m in d.messages if m.method == "INVITE" and m.dst in target
                and redirects and m.cseq > redirects[0].cseq]
    ok = bool(redirects) and any(p.split(":")[-1] in contact for p in target) and bool(followed) and d.final_code is not None \
        and 200 <= d.final_code < 300
    seen = (f"{redirects[0].status} with Contact {contact or '-'}" if redirects else f"no 3xx from {call.callee}") + \
        (f"; INVITE to {followed[0].dst} answered {d.final_code}" if followed else "; no INVITE to the target")
    why = (f"{call.callee} sent no redirect" if not redirects else
           f"the caller did not follow the redirect to {to}" if not followed else f"{to} answered {d.final_code}")
    return [check(f"call{call.index + 1}.redirect", ok, f"a 3xx from {call.callee} with Contact {to}, then an INVITE "
                  f"to {to} ({', '.join(sorted(target))}) answered 2xx", seen, why)]


def _one(p: str, scenario: Scenario, evidence: Evidence, analysis: CaptureAnalysis, st: TransferStep, d: Dialog) -> list:
    by = evidence.agent(st.by)
    refers = [m for m in d.messages if m.method == "REFER" and sent_by(m, by, scenario.agent(st.by))]
    ok202 = [m for m in d.messages if m.cseq_method == "REFER" and m.status == 202]
    target_ports = _target_ports(evidence, st)
    where = ", ".join(sorted(target_ports))
    refer_to = refers[0].header("Refer-To") or "" if refers else ""
    out = [check(f"{p}.refer", bool(refers) and bool(ok202), f"REFER from {st.by} answered 202 Accepted",
                 f"{len(refers)} REFER (Refer-To {refer_to or '-'}), " + ("202" if ok202 else "no 202"),
                 "no REFER from the transferor" if not refers else "the REFER was not accepted (202)")]
    frags = [(m, _SIPFRAG.match(m.body.lstrip())) for m in d.messages if m.method == "NOTIFY"]
    codes = [int(f[1]) for _, f in frags if f]
    final = next((c for c in reversed(codes) if c >= 200), None)
    out.append(check(f"{p}.notify", final is not None and 200 <= final < 300, "NOTIFY sipfrags ending in a 2xx",
                     "sipfrags " + (", ".join(map(str, codes)) or "none"),
                     f"the transfer ended with {final}" if final else "no final NOTIFY sipfrag"))
    new = [x for x in analysis.dialogs if x.messages and x.messages[0].time >= d.messages[0].time
           and any(referred(m) and m.dst in target_ports for m in x.messages)]
    code = new[0].final_code if new else None
    out.append(check(f"{p}.new_call", code is not None and 200 <= code < 300,
                     f"an INVITE with Referred-By to {st.to} ({where}) answered 2xx",
                     f"answered {code}" if new else "no such INVITE",
                     f"{st.to} answered {code}" if new else f"the transferee never called {st.to}"))
    return out
