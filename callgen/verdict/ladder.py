"""Structured SIP call flows for reports: who talked to whom, when, and what was said.

``ScenarioResult.ladder`` is text for terminals; a ladder *diagram* needs data:
per call the parties (agent name and address) and per message its time, lanes,
method or status, CSeq, whether it is a retransmission, an SDP summary (codec,
RTP/SAVP, crypto suites) and the message text (capped in size).

``build_flows`` runs inside ``checks.evaluate``, where the dialog of each call
is known.  The flows travel in ``ScenarioResult.summary.call_flows`` (``"call_flows"``) in
their JSON form (so result.json, ``--json`` and merge-reports keep them) and
are read back as frozen data with ``ScenarioResult.flows``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from callgen.analysis.ipaddr import endpoint

if TYPE_CHECKING:
    from callgen.analysis.model import Dialog, Sdp, SipMessage

SUMMARY_KEY = "call_flows"  #: where the flows live in ``ScenarioResult.summary``
REGISTER_KEY = "register_flows"  #: each registering agent's REGISTER transactions, drawn as flows too
MAX_MESSAGE_CHARS = 8 * 1024  #: text kept per message
MAX_TOTAL_CHARS = 512 * 1024  #: text kept per scenario; later messages keep only their summary


@dataclass(frozen=True)
class FlowParty:
    """One lane of the ladder: an agent (or an address no agent owns)."""

    name: str  #: agent name; "" when the address belongs to no agent
    address: str  #: "ip:port" it used (its SIP port)

    @property
    def label(self) -> str:
        return self.name or self.address

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "address": self.address}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FlowParty:
        return cls(str(d.get("name", "")), str(d.get("address", "")))


@dataclass(frozen=True)
class FlowSdp:
    """What an SDP body offered or answered for audio."""

    role: str  #: "offer" | "answer" | "sdp" (neither known)
    codecs: tuple[str, ...]  #: "PCMA/8000", ... in SDP order (telephone-event included)
    proto: str  #: "RTP/AVP", "RTP/SAVP", ...
    crypto: tuple[str, ...]  #: SDES suites offered/answered
    direction: str
    addr: str = ""  #: where the sender of this SDP receives media
    port: int = 0

    @property
    def savp(self) -> bool:
        return "SAVP" in self.proto.upper()

    @property
    def label(self) -> str:
        audio = [c for c in self.codecs if not c.lower().startswith("telephone-event")]
        text = f"{self.role} {audio[0] if audio else 'no codec'}"
        if len(audio) > 1:
            text += f" +{len(audio) - 1}"
        if self.savp:
            text += " SAVP"
        if self.crypto:
            text += " crypto"
        if self.direction and self.direction != "sendrecv":
            text += f" {self.direction}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {"role": self.role, "codecs": list(self.codecs), "proto": self.proto,
                "crypto": list(self.crypto), "direction": self.direction, "addr": self.addr, "port": self.port}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FlowSdp:
        return cls(str(d.get("role", "sdp")), tuple(str(c) for c in d.get("codecs", ())), str(d.get("proto", "")),
                   tuple(str(c) for c in d.get("crypto", ())), str(d.get("direction", "")),
                   str(d.get("addr", "")), int(d.get("port", 0) or 0))


@dataclass(frozen=True)
class FlowMessage:
    time: float  #: epoch seconds
    src: str  #: "ip:port"
    dst: str
    src_party: int  #: index into ``CallFlow.parties``
    dst_party: int
    method: str | None  #: request method, None for a response
    status: int | None
    reason: str
    cseq: int
    cseq_method: str
    retransmission: bool  #: the same message (same Via branch, CSeq, start line) was seen before
    source: str  #: "capture" or "pjsua log" (SIP over TLS)
    sdp: FlowSdp | None
    text: str  #: the message as parsed (start line, headers, body), capped
    truncated: bool = False  #: text was cut (per-message or per-scenario cap)
    request_uri: str = ""  #: a request's Request-URI ("" for a response or an older result)
    transport: str = ""  #: "UDP", "TCP", "TLS": the top Via's ("" when it has none)

    @property
    def label(self) -> str:
        if self.method:
            return self.method
        return f"{self.status} {self.reason}".strip()

    @property
    def kind(self) -> str:
        """Colour class: request, 1xx, 2xx, 3xx or err (4xx-6xx)."""
        if self.status is None:
            return "request"
        if self.status < 200:
            return "1xx"
        if self.status < 300:
            return "2xx"
        return "3xx" if self.status < 400 else "err"

    def to_dict(self) -> dict[str, Any]:
        return {
            "time": round(self.time, 6), "src": self.src, "dst": self.dst,
            "src_party": self.src_party, "dst_party": self.dst_party,
            "method": self.method, "status": self.status, "reason": self.reason,
            "cseq": self.cseq, "cseq_method": self.cseq_method,
            "retransmission": self.retransmission, "source": self.source,
            "sdp": self.sdp.to_dict() if self.sdp else None,
            "text": self.text, "truncated": self.truncated,
            "request_uri": self.request_uri, "transport": self.transport,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FlowMessage:
        status = d.get("status")
        return cls(
            time=float(d.get("time", 0.0)), src=str(d.get("src", "")), dst=str(d.get("dst", "")),
            src_party=int(d.get("src_party", 0)), dst_party=int(d.get("dst_party", 0)),
            method=d.get("method"), status=int(status) if status is not None else None,
            reason=str(d.get("reason", "")), cseq=int(d.get("cseq", 0)), cseq_method=str(d.get("cseq_method", "")),
            retransmission=bool(d.get("retransmission", False)), source=str(d.get("source", "capture")),
            sdp=FlowSdp.from_dict(d["sdp"]) if d.get("sdp") else None,
            text=str(d.get("text", "")), truncated=bool(d.get("truncated", False)),
            request_uri=str(d.get("request_uri") or ""), transport=str(d.get("transport") or ""),
        )


@dataclass(frozen=True)
class CallFlow:
    """The SIP ladder of one call of a scenario."""

    call: str  #: "call1", ...
    caller: str
    callee: str  #: agent name or the dialled URI
    call_id: str
    start: float  #: time of the first message (epoch seconds)
    parties: tuple[FlowParty, ...]
    messages: tuple[FlowMessage, ...]
    #: each leg's (agent, Call-ID) when a system under test sits between the agents
    #: (its own lane); () for a direct call, whose one Call-ID is ``call_id``
    legs: tuple[tuple[str, str], ...] = ()

    @property
    def call_ids(self) -> tuple[str, ...]:
        """Every Call-ID of the call: one per leg (a topology-hiding SUT changes it), at least ``call_id``."""
        ids = [self.call_id] + [cid for _, cid in self.legs]
        return tuple(dict.fromkeys(ids))

    def to_dict(self) -> dict[str, Any]:
        return {"call": self.call, "caller": self.caller, "callee": self.callee, "call_id": self.call_id,
                "start": round(self.start, 6), "parties": [p.to_dict() for p in self.parties],
                "messages": [m.to_dict() for m in self.messages],
                "legs": [{"agent": a, "call_id": c} for a, c in self.legs]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CallFlow:
        return cls(str(d.get("call", "")), str(d.get("caller", "")), str(d.get("callee", "")),
                   str(d.get("call_id", "")), float(d.get("start", 0.0)),
                   tuple(FlowParty.from_dict(p) for p in d.get("parties", ())),
                   tuple(FlowMessage.from_dict(m) for m in d.get("messages", ())),
                   tuple((str(g.get("agent", "")), str(g.get("call_id", ""))) for g in d.get("legs", ()) or ()
                         if isinstance(g, Mapping)))


def flows_from_summary(summary: Mapping[str, Any], key: str = SUMMARY_KEY) -> tuple[CallFlow, ...]:
    """The flows kept in a result's summary (``REGISTER_KEY``: the registrations'); () when
    there are none or they are malformed."""
    raw = summary.get(key)
    if not isinstance(raw, list):
        return ()
    try:
        return tuple(CallFlow.from_dict(d) for d in raw if isinstance(d, Mapping))
    except (TypeError, ValueError, KeyError):
        return ()


# --------------------------------------------------------------------------- building


@dataclass(frozen=True)
class AgentAddress:
    """Where an agent listens: its name, address and SIP port (TLS is port + 1)."""

    name: str
    address: str
    sip_port: int
    shown_port: int = 0  #: the port its lane head names (its TLS port for a TLS agent); 0: sip_port


@dataclass(frozen=True)
class CallInfo:
    call: str
    caller: str
    callee: str
    sut: str = ""  #: the system under test between the agents (its target's name), its own lane
    sut_address: str = ""  #: its SIP address ("ip:port")
    legs: tuple[tuple[str, str], ...] = ()  #: (agent, Call-ID) of each leg through the SUT


def _host_port(address: str, port: int) -> str:
    return endpoint(address, port)


def _host(endpoint: str) -> str:
    return endpoint.rsplit(":", 1)[0].strip("[]")


_SDES_KEY = re.compile(r"(a=crypto:\S+\s+\S+\s+inline:)[A-Za-z0-9+/=]+")


def message_text(m: SipMessage) -> str:
    """The message as parsed: start line, headers, blank line, body.  SDES
    keys are replaced by ``<key removed>``: like the analysis JSON, a report says
    a key was there, it does not hand it out."""
    if m.method:
        start = f"{m.method} {m.request_uri or '<Request-URI not kept by the analysis>'} SIP/2.0"
    else:
        start = f"SIP/2.0 {m.status} {m.reason}".rstrip()
    lines = [start] + [f"{k}: {v}" for k, v in m.headers]
    body = _SDES_KEY.sub(r"\1<key removed>", m.body.decode("utf-8", "replace")) if m.body else ""
    return "\r\n".join(lines) + "\r\n\r\n" + body


def _sdp_summary(sdp: Sdp, role: str) -> FlowSdp:
    a = sdp.audio()
    if a is None:
        return FlowSdp(role, (), "", (), "")
    return FlowSdp(role, tuple(a.codecs()), a.proto, tuple(c.suite for c in a.crypto), a.direction, a.addr, a.port)


class _Lanes:
    """Maps message endpoints to parties: an agent's SIP port (or its TLS port)
    names its lane; an ephemeral TCP/TLS port is the party at the other end of a
    known connection, else a lane of its own named by its address."""

    def __init__(self, agents: Sequence[AgentAddress], first: Iterable[str], named: Mapping[str, str] | None = None) -> None:
        self.parties: list[FlowParty] = []
        self._agents = {a.name: a for a in agents}
        self._agent_index: dict[str, int] = {}
        self._named = dict(named or {})  #: address -> name of a party that is no agent (the SUT)
        for name in first:
            if self._agent(name) is None:
                address = next((a for a, n in self._named.items() if n == name), None)
                if address is not None:
                    self.parties.append(FlowParty(name, address))

    def _agent(self, name: str) -> int | None:
        a = self._agents.get(name)
        if a is None:
            return None
        if name not in self._agent_index:
            self._agent_index[name] = len(self.parties)
            self.parties.append(FlowParty(name, _host_port(a.address, a.shown_port or a.sip_port)))
        return self._agent_index[name]

    def lane(self, endpoint: str) -> int:
        for a in self._agents.values():
            if endpoint in (_host_port(a.address, a.sip_port), _host_port(a.address, a.sip_port + 1)):
                return self._agent(a.name)  # type: ignore[return-value]
        for i, p in enumerate(self.parties):
            if p.address == endpoint:
                return i
        self.parties.append(FlowParty(self._named.get(endpoint, ""), endpoint))
        return len(self.parties) - 1


_VIA_TRANSPORT = re.compile(r"SIP\s*/\s*2\.0\s*/\s*([A-Za-z]+)")


def via_transport(m: SipMessage) -> str:
    """The transport the top Via names ("UDP", "TCP", "TLS", ...), "" when none does."""
    found = _VIA_TRANSPORT.match((m.header("Via") or "").strip())
    return found[1].upper() if found else ""


def _retransmission_key(m: SipMessage) -> tuple:
    via = (m.header("Via") or "").split(",")[0].strip()
    return (m.src, m.dst, m.method, m.status, m.cseq, m.cseq_method, via, m.body)


def _lanes_of(m: SipMessage, lanes: _Lanes, asked: dict[tuple[int, str], tuple[int, int]]) -> tuple[int, int]:
    """Source and destination lanes.  A pjsua log names no address for one end
    of some responses (no Contact): a response goes back where its request came from."""
    key = (m.cseq, m.cseq_method)
    if m.method is not None:
        src, dst = lanes.lane(m.src), lanes.lane(m.dst)
        asked[key] = (src, dst)
        return src, dst
    req = asked.get(key)
    src = req[1] if req and ":" not in m.src else lanes.lane(m.src)
    dst = req[0] if req and ":" not in m.dst else lanes.lane(m.dst)
    return src, dst


def build_flow(call: CallInfo, dialog: Dialog, agents: Sequence[AgentAddress], budget: list[int]) -> CallFlow:
    """One call's flow; ``budget`` holds the characters of message text still allowed."""
    named = {call.sut_address: call.sut} if call.sut and call.sut_address else {}
    lanes = _Lanes(agents, [n for n in (call.caller, call.sut, call.callee) if n], named)
    seen: set[tuple] = set()
    udp: set[int] = set()  #: lanes seen sending or receiving over UDP
    msgs = []
    offer_seen: set[tuple[str, int]] = set()
    asked: dict[tuple[int, str], tuple[int, int]] = {}
    for m in dialog.messages:
        key = _retransmission_key(m)
        again = key in seen
        seen.add(key)
        sdp = None
        if m.sdp is not None:
            ident = (m.cseq_method, m.cseq)
            role = "answer" if ident in offer_seen and m.status is not None else "offer"
            offer_seen.add(ident)
            sdp = _sdp_summary(m.sdp, role)
        full = message_text(m)
        keep = min(len(full), MAX_MESSAGE_CHARS, max(budget[0], 0))
        budget[0] -= keep
        src, dst = _lanes_of(m, lanes, asked)
        if m.transport == "udp":
            udp.update((src, dst))
        msgs.append(FlowMessage(
            time=m.time, src=m.src, dst=m.dst, src_party=src, dst_party=dst, method=m.method, status=m.status,
            reason=m.reason, cseq=m.cseq, cseq_method=m.cseq_method, retransmission=again,
            source="pjsua log" if m.transport == "log" else "capture", sdp=sdp,
            text=full[:keep], truncated=keep < len(full), request_uri=m.request_uri, transport=via_transport(m),
        ))
    start = dialog.messages[0].time if dialog.messages else 0.0
    return _merge_ephemeral(CallFlow(call.call, call.caller, call.callee, dialog.call_id, start,
                                     tuple(lanes.parties), tuple(msgs), call.legs), frozenset(udp))


def _merge_ephemeral(flow: CallFlow, udp: frozenset[int] = frozenset()) -> CallFlow:
    """Over TCP/TLS a party sends from an ephemeral port.  When a call has
    exactly two named parties, an unnamed lane that only ever talks to one of
    them is the other one: fold it in so the ladder has one lane per party.
    A lane seen over UDP (``udp``) is never folded: over UDP a party sends from
    the port it listens on, so an unnamed UDP peer is a party of its own (a proxy,
    an SBC), not an agent's ephemeral port."""
    named = [i for i, p in enumerate(flow.parties) if p.name]
    if len(named) != 2:
        return flow
    remap: dict[int, int] = {}
    for i, p in enumerate(flow.parties):
        if p.name or i in udp:
            continue
        peers = {m.dst_party if m.src_party == i else m.src_party
                 for m in flow.messages if i in (m.src_party, m.dst_party)}
        if len(peers) != 1 or next(iter(peers)) not in named:
            continue
        other = named[0] if next(iter(peers)) == named[1] else named[1]
        if _host(p.address) == _host(flow.parties[other].address):
            remap[i] = other
    if not remap:
        return flow
    keep = [i for i in range(len(flow.parties)) if i not in remap]
    new_index = {old: new for new, old in enumerate(keep)}
    new_index.update({old: new_index[target] for old, target in remap.items()})
    msgs = tuple(replace(m, src_party=new_index[m.src_party], dst_party=new_index[m.dst_party]) for m in flow.messages)
    return CallFlow(flow.call, flow.caller, flow.callee, flow.call_id, flow.start,
                    tuple(flow.parties[i] for i in keep), msgs, flow.legs)


def build_flows(calls: Sequence[tuple[CallInfo, Dialog | None]], agents: Sequence[AgentAddress]) -> list[dict[str, Any]]:
    """The JSON form of every call's flow (calls without a dialog are left out),
    ready for ``summary[SUMMARY_KEY]``."""
    budget = [MAX_TOTAL_CHARS]
    return [build_flow(info, d, agents, budget).to_dict() for info, d in calls if d is not None]
