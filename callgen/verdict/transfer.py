"""Blind transfer (``transfer: {by, to}``), proven from the capture: the REFER from the
transferor and its 202, the NOTIFY sipfrags back to it up to the final status, and the
new call the transferee placed to the target (an INVITE with Referred-By) and its answer.
Redirect (``redirect_to``): the callee's 3xx with the target as Contact, then the caller's
new INVITE (same Call-ID, next CSeq) to the target and its answer."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote

from callgen.analysis import CaptureAnalysis, Dialog
from callgen.analysis.model import SipMessage
from callgen.pjsua.driver import EventKind
from callgen.run.evidence import Evidence
from callgen.run.plan import uri_port
from callgen.scenario.model import Call, HangupStep, Scenario, TransferStep
from callgen.verdict.media import CallMedia, call_media, check, host_port, sent_by

_SIPFRAG = re.compile(rb"^SIP/2\.0 (\d{3})")
_TAG = re.compile(r";\s*tag=([^;>\s]+)", re.I)
_URI_HOST = re.compile(r"^sips?:(?:[^@;>]*@)?(\[[^\]]+\]|[^:;>?]+)")


def referred(m: SipMessage) -> bool:
    """An INVITE a transfer caused (RFC 3892 Referred-By): not one of the scenario's own calls."""
    return m.method == "INVITE" and m.header("Referred-By") is not None


def steps_before_attended(call: Call) -> tuple:
    """The steps that act on the call's own dialog: after an attended transfer they act on the
    caller's new call to the target (callgen.run.callflow follows it)."""
    at = next((j for j, s in enumerate(call.steps) if isinstance(s, TransferStep) and s.attended), None)
    return call.steps if at is None else call.steps[:at + 1]


def transfer_checks(scenario: Scenario, evidence: Evidence, analysis: CaptureAnalysis, call: Call, d: Dialog) -> list:
    out = []
    for j, st in enumerate(s for s in call.steps if isinstance(s, TransferStep)):
        p = f"call{call.index + 1}.transfer" + (f"{j + 1}" if j else "")
        out += _one(p, scenario, evidence, analysis, st, d, call.caller, call.steps)
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


def _one(p: str, scenario: Scenario, evidence: Evidence, analysis: CaptureAnalysis, st: TransferStep, d: Dialog,
         caller: str, steps: tuple) -> list:
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
    if st.attended:
        who = _parties(evidence, st, caller)
        hangup = next((s.by for s in steps[steps.index(st) + 1:] if isinstance(s, HangupStep)), None)
        out += attended_checks(p, analysis.dialogs, d, who, lambda x: call_media(analysis, x), hangup)
        out.append(_log_check(p, evidence, st))
    return out


def _log_check(p: str, evidence: Evidence, st: TransferStep):
    """pjsua's own lines: the transferor's 'transfer status' per NOTIFY, and at a pjsua target
    'Call N with ... is being replaced by call M with ...' (on_call_replaced)."""
    statuses = [e for e in evidence.agent(st.by).events if e.kind is EventKind.TRANSFER_STATUS]
    final = next((e for e in reversed(statuses) if e.state == "final"), None)
    target = None if st.uri else evidence.agent(st.to)
    target = target if target is not None and target.kind == "pjsua" else None  # a SIPp target logs no such line
    replaced = [e for e in target.events if e.kind is EventKind.CALL_REPLACED] if target else []
    ok = final is not None and final.code is not None and 200 <= final.code < 300 and (target is None or bool(replaced))
    seen = f"{st.by}: transfer status " + (", ".join(f"{e.code}" + (" [final]" if e.state else "") for e in statuses) or "none")
    seen += (f"; {st.to}: call {replaced[0].call} replaced by call {replaced[0].code} with {replaced[0].reason}" if replaced else
             f"; {st.to}: no 'is being replaced' line" if target is not None else f"; {st.to} is no pjsua agent of this run")
    why = ("no final transfer status line" if final is None else f"the final transfer status is {final.code} ({final.reason})"
           if not (final.code and 200 <= final.code < 300) else f"{st.to}'s pjsua never logged that a call was replaced")
    return check(f"{p}.log", ok, f"{st.by}'s pjsua logs a final transfer status 2xx" +
                 ("" if target is None else f"; {st.to}'s pjsua logs its consultation call being replaced"),
                 seen, why, evidence="pjsua log")


# -- attended transfer (Refer-To with ?Replaces=, RFC 3891 / RFC 5589 section 7) -----------------

@dataclass(frozen=True)
class Replaces:
    """A Replaces value: ``call-id;to-tag=T;from-tag=F[;early-only]`` (RFC 3891 section 6.1)."""

    call_id: str
    to_tag: str
    from_tag: str
    early_only: bool = False

    def __str__(self) -> str:
        return f"{self.call_id};to-tag={self.to_tag};from-tag={self.from_tag}" + (";early-only" if self.early_only else "")


def parse_replaces(value: str | None) -> Replaces | None:
    """A Replaces header's (or Refer-To ``?Replaces=`` parameter's, unescaped) value; None when
    it is missing or lacks a Call-ID, a to-tag or a from-tag."""
    if not value:
        return None
    call_id, *params = (x.strip() for x in value.strip().split(";"))
    tags: dict[str, str] = {}
    early = False
    for prm in params:
        name, _, v = prm.partition("=")
        if name.strip().lower() == "early-only":
            early = True
        elif v:
            tags[name.strip().lower()] = v.strip()
    if not call_id or "to-tag" not in tags or "from-tag" not in tags:
        return None
    return Replaces(call_id, tags["to-tag"], tags["from-tag"], early)


def refer_to_replaces(refer_to: str | None) -> Replaces | None:
    """The Replaces a Refer-To URI carries as a header parameter (``<sip:c@h?Replaces=id%3Bto-tag%3D...>``)."""
    if not refer_to:
        return None
    uri = refer_to.strip()
    if "<" in uri:
        uri = uri[uri.index("<") + 1:].split(">", 1)[0]
    _, _, query = uri.partition("?")
    for part in query.split("&"):
        name, _, value = part.partition("=")
        if unquote(name).strip().lower() == "replaces":
            return parse_replaces(unquote(value))
    return None


def tag_of(header: str | None) -> str:
    """The ``tag`` parameter of a From or To header ("" without one)."""
    m = _TAG.search(header or "")
    return m[1] if m else ""


def dialog_tags(d: Dialog) -> tuple[str, str]:
    """(From tag, To tag) of an INVITE dialog: the INVITE's From, the To of its 2xx."""
    inv = next((m for m in d.messages if m.method == "INVITE"), None)
    ok = next((m for m in d.messages if m.status is not None and 200 <= m.status < 300 and m.cseq_method == "INVITE"), None)
    return tag_of(inv.header("From") if inv else None), tag_of(ok.header("To") if ok else None)


def replaces_mismatch(rep: Replaces | None, consult: Dialog, target_is_uas: bool = True) -> str:
    """Why ``rep`` does not name the consultation dialog for its recipient, the target ("" when it
    does).  RFC 3891: to-tag is the recipient's own tag, from-tag the other side's; the target
    answered the consultation call, so its tag is the dialog's To tag (its From tag otherwise)."""
    if rep is None:
        return "no Replaces"
    from_tag, to_tag = dialog_tags(consult)
    mine, other = (to_tag, from_tag) if target_is_uas else (from_tag, to_tag)
    if rep.call_id != consult.call_id:
        return f"Call-ID {rep.call_id} is not the consultation call's {consult.call_id}"
    if rep.to_tag != mine:
        return f"to-tag {rep.to_tag} is not the target's tag {mine or '-'}"
    if rep.from_tag != other:
        return f"from-tag {rep.from_tag} is not the transferor's tag {other or '-'}"
    return ""


def _placed(d: Dialog, src: set[str], dst: set[str]) -> bool:
    inv = next((m for m in d.messages if m.method == "INVITE"), None)
    return inv is not None and inv.src in src and inv.dst in dst


def _bye(d: Dialog, src: set[str] | None = None) -> tuple[SipMessage | None, int | None]:
    """The first BYE of ``d`` (sent from ``src`` when given) and the status that answered it."""
    bye = next((m for m in d.messages if m.method == "BYE" and (src is None or m.src in src)), None)
    if bye is None:
        return None, None
    ok = next((m.status for m in d.messages if m.status is not None and m.cseq_method == "BYE" and m.cseq == bye.cseq
               and m.src == bye.dst), None)
    return bye, ok


@dataclass(frozen=True)
class AttendedParties:
    """Who is who in one attended transfer, and where each listens for SIP (``host:port``)."""

    transferee: str  #: the caller: REFERred, it calls the target with Replaces
    transferor: str  #: the callee: it consults the target, then REFERs
    target: str  #: an agent name or a URI
    transferee_ports: frozenset[str]
    transferor_ports: frozenset[str]
    target_ports: frozenset[str]


def attended_checks(p: str, dialogs: tuple[Dialog, ...], d: Dialog, who: AttendedParties,
                    media: Callable[[Dialog], CallMedia], hangup: str | None = None) -> list:
    """The capture's proof of an attended transfer on call dialog ``d`` (transferee -> transferor):
    the consultation dialog, Replaces in the REFER and in the new INVITE naming it, the new call's
    ACK and RTP both ways, and the BYEs of the replaced and the transferred dialogs; ``hangup``: the
    transferee hangs up the new call in a later step (its BYE ends that dialog)."""
    consult, new = attended_dialogs(dialogs, d, who)
    tgt, by = who.target, who.transferor
    out = [_consult_check(p, consult, who)]
    refer = next((m for m in d.messages if m.method == "REFER" and m.src in who.transferor_ports), None)
    rep = refer_to_replaces(refer.header("Refer-To") if refer else None)
    why = "no REFER from the transferor" if refer is None else \
        "no consultation call to name" if consult is None else replaces_mismatch(rep, consult)
    out.append(check(f"{p}.refer_replaces", not why,
                     f"the REFER's Refer-To carries ?Replaces= naming the {by}-{tgt} dialog (its Call-ID, "
                     f"to-tag = {tgt}'s tag, from-tag = {by}'s tag); dialog {by} -> {tgt}",
                     f"Refer-To {refer.header('Refer-To') if refer else '-'}", why))
    inv = next((m for m in new.messages if m.method == "INVITE"), None) if new else None
    rep_hdr = inv.header("Replaces") if inv else None
    why = f"{who.transferee} sent no INVITE with Replaces to {tgt}" if new is None else \
        "no consultation call to name" if consult is None else replaces_mismatch(parse_replaces(rep_hdr), consult)
    out.append(check(f"{p}.invite_replaces", not why,
                     f"{who.transferee}'s new INVITE to {tgt} carries a Replaces header naming the {by}-{tgt} dialog; "
                     f"dialog {who.transferee} -> {tgt}", f"Replaces: {rep_hdr or '-'}", why))
    out.append(_new_call_media(p, new, who, media))
    out.append(_replaced_bye(p, consult, new, who))
    bye, code = _bye(d)
    ok = bye is not None and code is not None and 200 <= code < 300
    out.append(check(f"{p}.transferor_bye", ok, f"the transferred dialog {who.transferee}-{by} ended by a BYE answered 2xx; "
                     f"dialog {d.call_id}",
                     f"BYE from {bye.src} answered {code}" if bye else "no BYE",
                     "the transferred dialog was not ended" if bye is None else f"its BYE was answered {code}"))
    if hangup is not None:
        bye, code = _bye(new, set(who.transferee_ports)) if new else (None, None)
        out.append(check(f"{p}.new_call_bye", bye is not None and code is not None and 200 <= code < 300,
                         f"the hangup after the transfer: a BYE from {who.transferee} ends the replacing dialog "
                         f"{who.transferee} -> {who.target}, answered 2xx",
                         f"BYE answered {code}" if bye else "no BYE from " + who.transferee,
                         "no replacing call" if new is None else f"the replacing call was never up (answered {new.final_code})"
                         if not (new.final_code and 200 <= new.final_code < 300) else
                         f"{who.transferee} sent no BYE on the replacing call" if bye is None else f"its BYE was answered {code}"))
    return out


def attended_dialogs(dialogs: tuple[Dialog, ...], d: Dialog, who: AttendedParties) -> tuple[Dialog | None, Dialog | None]:
    """(the consultation dialog transferor -> target, the replacing dialog transferee -> target
    whose INVITE carries Replaces), each the first after the call's dialog began; None: not seen."""
    later = [x for x in dialogs if x.messages and x is not d and x.messages[0].time >= d.messages[0].time]
    consult = next((x for x in later if _placed(x, set(who.transferor_ports), set(who.target_ports))), None)
    new = next((x for x in later if _placed(x, set(who.transferee_ports), set(who.target_ports))
                and any(m.method == "INVITE" and m.header("Replaces") for m in x.messages)), None)
    return consult, new


def attended_ladders(scenario: Scenario, evidence: Evidence, analysis: CaptureAnalysis, call: Call,
                     d: Dialog) -> list[tuple[str, Dialog]]:
    """The other dialogs of the call's attended transfers, labelled for the SIP ladder."""
    out = []
    for st in (s for s in call.steps if isinstance(s, TransferStep) and s.attended):
        who = _parties(evidence, st, call.caller)
        consult, new = attended_dialogs(analysis.dialogs, d, who)
        out += [(f"consultation {st.by} -> {st.to}", consult)] if consult else []
        out += [(f"replacing {call.caller} -> {st.to} (Replaces)", new)] if new else []
    return out


def _parties(evidence: Evidence, st: TransferStep, caller: str) -> AttendedParties:
    return AttendedParties(caller, st.by, st.to, frozenset(_ports_of(evidence, caller)),
                           frozenset(_ports_of(evidence, st.by)), frozenset(_target_ports(evidence, st)))


def _consult_check(p: str, consult: Dialog | None, who: AttendedParties):
    acked = consult is not None and any(m.method == "ACK" for m in consult.messages)
    code = consult.final_code if consult else None
    ok = code is not None and 200 <= code < 300 and acked
    return check(f"{p}.consult", ok, f"{who.transferor}'s consultation INVITE to {who.target} "
                 f"({', '.join(sorted(who.target_ports))}) answered 2xx and ACKed; dialog {who.transferor} -> {who.target}",
                 f"Call-ID {consult.call_id}, answered {code}" + ("" if acked else ", no ACK") if consult else "no such INVITE",
                 f"{who.transferor} never called {who.target}" if consult is None else
                 f"{who.target} answered {code}" if not (code and 200 <= code < 300) else "the 2xx was not ACKed")


def _new_call_media(p: str, new: Dialog | None, who: AttendedParties, media: Callable[[Dialog], CallMedia]):
    label = f"dialog {who.transferee} -> {who.target}"
    if new is None:
        return check(f"{p}.new_call_media", False, f"the replacing call ACKed, RTP both ways; {label}", "no replacing call",
                     f"{who.transferee} never called {who.target} with Replaces")
    acked = any(m.method == "ACK" for m in new.messages)
    cm = media(new)
    fwd, bwd = (sum(s.packets - s.discarded for s in x) for x in (cm.forward, cm.backward))
    ok = new.final_code is not None and 200 <= new.final_code < 300 and acked and fwd > 0 and bwd > 0
    why = (f"{who.target} answered {new.final_code}" if not (new.final_code and 200 <= new.final_code < 300) else
           "the 2xx was not ACKed" if not acked else
           f"no RTP {who.transferee} -> {who.target}" if not fwd else f"no RTP {who.target} -> {who.transferee}")
    return check(f"{p}.new_call_media", ok, f"the replacing call answered 2xx, ACKed, RTP both ways; {label} "
                 f"(Call-ID {new.call_id})", f"answered {new.final_code}, {'ACK' if acked else 'no ACK'}, RTP "
                 f"{fwd} packets {who.transferee}->{who.target}, {bwd} back", why)


def _replaced_bye(p: str, consult: Dialog | None, new: Dialog | None, who: AttendedParties):
    """RFC 3891 section 3: the target, having accepted the INVITE with Replaces, ends the replaced dialog."""
    label = f"the replaced dialog {who.transferor} -> {who.target}"
    if consult is None:
        return check(f"{p}.replaced_bye", False, f"a BYE from {who.target} ends {label}", "no consultation call",
                     f"{who.transferor} never called {who.target}")
    bye, code = _bye(consult, set(who.target_ports))
    after = new is not None and bye is not None and bye.time >= new.messages[0].time
    ok = after and code is not None and 200 <= code < 300
    other, _ = _bye(consult)
    seen = (f"BYE from {who.target} answered {code}" if bye else
            f"only a BYE from {other.src} (the transferor)" if other else "no BYE") + f" (Call-ID {consult.call_id})"
    taken = new is not None and new.final_code is not None and 200 <= new.final_code < 300
    why = (f"{who.target} answered the INVITE with Replaces {new.final_code if new else '-'}: nothing replaced {label}"
           if not taken and bye is None else
           f"{who.target} never ended {label}: it did not honour the Replaces" if bye is None else
           f"{who.target}'s BYE came before any INVITE with Replaces" if not after else f"the BYE was answered {code}")
    return check(f"{p}.replaced_bye", ok, f"after the INVITE with Replaces, {who.target} ends {label} with a BYE answered 2xx",
                 seen, why)
