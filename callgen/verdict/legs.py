"""The legs of a call: what each agent itself sent and received.

A call between two of callgen's agents is one leg when they talk to each other, and
two when a system under test sits between them (an SBC, a B2BUA, a proxy with a
media relay): the caller's leg (caller <-> SUT) and the callee's leg (SUT <-> callee).
A leg is found by the agent's own SIP address and port, never by Call-ID: the
caller's leg starts with the INVITE the caller sent, the callee's leg with the
INVITE that arrived at the callee (a topology-hiding SUT gives it another Call-ID;
one that keeps the Call-ID puts both legs under one Call-ID, and the addresses
still tell them apart).

Media belongs to a leg by its 5-tuple: a stream counts for a direction only when its
source is an address the sending side announced in this leg's SDP and its
destination one the receiving side announced there.  RTP sent anywhere else (to
the SDP port + 2, from an unannounced port) is nobody's media.
"""

from __future__ import annotations

from dataclasses import dataclass

from callgen.analysis import CaptureAnalysis, Dialog, RtpStream, SipMessage, build_dialog
from callgen.verdict.media import CallMedia, first_invite, host_port

#: a leg's role: whose leg it is
CALLER, CALLEE = "caller", "callee"


def _tag(value: str | None) -> str:
    for part in (value or "").split(";")[1:]:
        k, _, v = part.strip().partition("=")
        if k.lower() == "tag":
            return v
    return ""


def _initial(m: SipMessage) -> bool:
    return m.method == "INVITE" and not _tag(m.header("To"))


def sent_by_initiator(m: SipMessage, from_tag: str) -> bool:
    """Did the side that sent the leg's initial INVITE send ``m``?  Its requests carry
    its From tag; responses carry the From tag of the request they answer."""
    return (m.method is not None) == (_tag(m.header("From")) == from_tag)


def sdp_addresses(d: Dialog) -> tuple[frozenset[str], frozenset[str]]:
    """Where the initiator (the INVITE's sender) and the recipient receive media on
    this leg: every m= line each of them sent, re-INVITEs from either side included."""
    inv = first_invite(d)
    if inv is None:
        return frozenset(), frozenset()
    tag = _tag(inv.header("From"))
    mine: set[str] = set()
    theirs: set[str] = set()
    for m in d.messages:
        if m.sdp is None:
            continue
        side = mine if sent_by_initiator(m, tag) else theirs
        side.update(host_port(x.addr, x.port) for x in m.sdp.media if x.port)
    return frozenset(mine), frozenset(theirs)


def leg_media(streams: tuple[RtpStream, ...], d: Dialog) -> CallMedia:
    """The streams of one leg by 5-tuple: caller->callee (initiator -> recipient) and back."""
    init, recip = sdp_addresses(d)
    fwd = tuple(s for s in streams if s.src in init and s.dst in recip)
    bwd = tuple(s for s in streams if s.src in recip and s.dst in init)
    return CallMedia(fwd, bwd)


@dataclass(frozen=True)
class CallLeg:
    """One leg: the agent whose leg it is, the other end, its own dialog and media."""

    role: str  #: "caller" | "callee"
    agent: str  #: the agent whose leg it is (for a direct call: the caller)
    peer: str  #: the other end: the other agent, or the system under test
    dialog: Dialog  #: this leg's messages only; its offer/answer are this leg's SDP
    media: CallMedia  #: caller->callee direction (forward) and back, on this leg only

    @property
    def call_id(self) -> str:
        return self.dialog.call_id

    def ends(self, forward: bool) -> tuple[str, str]:
        """(sender, receiver) of one direction on this leg."""
        if self.role == CALLER:
            return (self.agent, self.peer) if forward else (self.peer, self.agent)
        return (self.peer, self.agent) if forward else (self.agent, self.peer)

    def label(self, forward: bool) -> str:
        """``alice -> SBC`` for the direction caller->callee (``forward``) on this leg."""
        a, b = self.ends(forward)
        return f"{a} -> {b}"

    def describe(self) -> str:
        """``bob's leg (SBC <-> bob, Call-ID x)``."""
        pair = f"{self.agent} <-> {self.peer}" if self.role == CALLER else f"{self.peer} <-> {self.agent}"
        return f"{self.agent}'s leg ({pair}, Call-ID {self.call_id})"


@dataclass(frozen=True)
class CallLegs:
    """A call's legs: one (the agents talk to each other) or two (a SUT between them)."""

    legs: tuple[CallLeg, ...]
    sut: str | None = None  #: the SUT's SIP address when there is one
    missing: str = ""  #: why the callee's leg is not there (a SUT, but no INVITE reached the callee)

    @property
    def relayed(self) -> bool:
        """A system under test sits between the caller and the callee."""
        return self.sut is not None

    def leg(self, role: str) -> CallLeg | None:
        """The leg of ``role``; a direct call's one leg is both agents' leg."""
        if not self.relayed:
            return self.legs[0] if self.legs else None
        return next((g for g in self.legs if g.role == role), None)

    @property
    def caller(self) -> CallLeg:
        return self.legs[0]


def agent_addresses(address: str, sip_port: int) -> frozenset[str]:
    """An agent's SIP addresses as the analyser writes them (its port, and the TLS port next to it)."""
    return frozenset(host_port(address, sip_port + k) for k in (0, 1))


def restrict(d: Dialog, invite: SipMessage, addresses: frozenset[str]) -> Dialog:
    """The messages of ``d`` on one leg: between the two ends of its initial INVITE
    (the same connection over TCP), or to/from the agent's own SIP addresses."""
    pair = {invite.src, invite.dst}
    msgs = [m for m in d.messages if {m.src, m.dst} == pair or m.src in addresses or m.dst in addresses]
    return build_dialog(d.call_id, msgs)


def callee_dialog(analysis: CaptureAnalysis, caller_dialog: Dialog, callee: frozenset[str],
                  taken: set[str]) -> tuple[Dialog, SipMessage] | None:
    """The dialog in which the callee received its INVITE for this call: under the
    caller's Call-ID if the SUT kept it, else the first one after the caller's INVITE
    that no earlier call took (``taken``: Call-IDs already matched)."""
    start = first_invite(caller_dialog)
    t0 = start.time if start else 0.0
    found = []
    for d in analysis.dialogs:
        inv = next((m for m in d.messages if _initial(m) and m.dst in callee), None)
        if inv is None:
            continue
        if d.call_id == caller_dialog.call_id:
            return d, inv
        if d.call_id not in taken and inv.time >= t0 - 0.5:
            found.append((inv.time, d, inv))
    if not found:
        return None
    _, d, inv = min(found, key=lambda x: x[0])
    return d, inv


def find_legs(analysis: CaptureAnalysis, caller_dialog: Dialog, caller: tuple[str, frozenset[str]],
              callee: tuple[str, frozenset[str]] | None, taken: set[str], sut_name: str = "SUT") -> CallLegs:
    """The legs of one call.  ``caller``/``callee``: (agent name, its SIP addresses);
    ``callee`` None for a call to an outside party (one leg: the caller's).  Adds the
    callee leg's Call-ID to ``taken``."""
    inv = first_invite(caller_dialog)
    streams = analysis.rtp_streams
    if inv is None or (callee is not None and inv.dst in callee[1]):
        peer = callee[0] if callee else "?"
        return CallLegs((CallLeg(CALLER, caller[0], peer, caller_dialog, leg_media(streams, caller_dialog)),))
    if callee is None:  # an outside party: what the caller itself exchanged (a proxy's next hop is not its leg)
        near = restrict(caller_dialog, inv, caller[1])
        return CallLegs((CallLeg(CALLER, caller[0], sut_name, near, leg_media(streams, near)),))
    sut = inv.dst
    near = restrict(caller_dialog, inv, caller[1])
    legs = [CallLeg(CALLER, caller[0], sut_name, near, leg_media(streams, near))]
    got = callee_dialog(analysis, caller_dialog, callee[1], taken)
    if got is None:
        return CallLegs(tuple(legs), sut, f"no INVITE reached {callee[0]} ({', '.join(sorted(callee[1]))[:60]})")
    d, callee_invite = got
    taken.add(d.call_id)
    far = restrict(d, callee_invite, callee[1])
    legs.append(CallLeg(CALLEE, callee[0], sut_name, far, leg_media(streams, far)))
    return CallLegs(tuple(legs), sut)
