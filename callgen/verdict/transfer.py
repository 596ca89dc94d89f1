"""Blind transfer (``transfer: {by, to}``), proven from the capture: the REFER from the
transferor and its 202, the NOTIFY sipfrags back to it up to the final status, and the
new call the transferee placed to the target (an INVITE with Referred-By) and its answer."""

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
    if st.uri is None:
        target = evidence.agent(st.to)
        return {host_port(target.address, target.sip_port + k) for k in (0, 1)}
    m = _URI_HOST.match(st.uri)
    host = m[1].strip("[]") if m else ""
    return {host_port(host, uri_port(st.uri) or 5060)}


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
