"""Dialogs as they build up during the scan, and what they say about media.

The scanner asks the book, when a new RTP stream shows up, which call it belongs
to, which payload types carry events, the clock rates, and which SRTP key
protects it (the key in side X's SDP protects what X sends; X sends from the
address it announced, symmetric RTP, or with an SSRC it announced).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from callgen.analysis.model import Dialog, Sdp, SdpMedia, SipMessage
from callgen.analysis.srtp import SrtpKey


@dataclass
class _DialogBuilder:
    call_id: str
    messages: list[SipMessage] = field(default_factory=list)
    invite_cseq: int | None = None
    invite_had_sdp: bool = False
    final_code: int | None = None
    offer: Sdp | None = None
    answer: Sdp | None = None
    #: final responses to INVITEs seen while no INVITE was: CSeq -> (code, SDP)
    orphans: dict[int, tuple[int, Sdp | None]] = field(default_factory=dict)

    def add(self, msg: SipMessage) -> None:
        self.messages.append(msg)
        if msg.method == "INVITE":
            # The initial INVITE is the out-of-dialog one (no To tag); after a 401/407
            # challenge it is sent again with a new CSeq, and that retry is what counts.
            out_of_dialog = "tag=" not in (msg.header("To") or "").replace(" ", "")
            if self.invite_cseq is None or (out_of_dialog and msg.cseq != self.invite_cseq):
                self.invite_cseq = msg.cseq
                self.final_code = None
                self.answer = None
                self.offer = msg.sdp
                self.invite_had_sdp = msg.sdp is not None
            return
        if self.invite_cseq is None and msg.status is not None and msg.status >= 200 and msg.cseq_method == "INVITE":
            self.orphans.setdefault(msg.cseq, (msg.status, msg.sdp))
        if self.invite_cseq is None or msg.cseq != self.invite_cseq:
            return
        if msg.status is not None and msg.cseq_method == "INVITE":
            if msg.status >= 200 and self.final_code is None:
                self.final_code = msg.status
            if msg.sdp is not None:
                if self.invite_had_sdp:
                    if self.answer is None:
                        self.answer = msg.sdp
                elif self.offer is None and msg.status < 300:
                    self.offer = msg.sdp
        elif msg.method == "ACK" and msg.sdp is not None and not self.invite_had_sdp and self.answer is None:
            self.answer = msg.sdp

    def _orphan_final(self) -> tuple[int, Sdp | None] | None:
        """With no INVITE captured: the final response of the lowest CSeq, or of the
        next one when that was a 401/407 challenge (the retry is what counts)."""
        for cseq in sorted(self.orphans):
            code, sdp = self.orphans[cseq]
            if code not in (401, 407):
                return code, sdp
        return self.orphans[max(self.orphans)] if self.orphans else None

    def freeze(self) -> Dialog:
        msgs = tuple(sorted(self.messages, key=lambda m: m.time))
        orphan = self._orphan_final() if self.invite_cseq is None else None
        if orphan is not None:
            code, sdp = orphan
            return Dialog(self.call_id, msgs, code, None, sdp if code < 300 else None, invite_captured=False)
        return Dialog(self.call_id, msgs, self.final_code, self.offer, self.answer)


def build_dialog(call_id: str, messages) -> Dialog:
    """A dialog from some of a Call-ID's messages (e.g. one leg of a call through a proxy
    that kept the Call-ID), with the initial INVITE, final code, offer and answer of those."""
    b = _DialogBuilder(call_id)
    for m in sorted(messages, key=lambda m: m.time):
        b.add(m)
    return b.freeze()


@dataclass(frozen=True)
class MediaInfo:
    """What the SDP says about one RTP stream."""

    call_id: str
    sender: SdpMedia | None
    receiver: SdpMedia | None
    key: SrtpKey | None
    key_pending: bool  #: SAVP with keys offered, but the answer (chosen tag) not seen yet

    @property
    def savp(self) -> bool:
        return any(m is not None and m.savp for m in (self.sender, self.receiver))

    def rtpmap(self) -> dict[int, tuple[str, int]]:
        out: dict[int, tuple[str, int]] = {}
        for m in (self.sender, self.receiver):  # the receiver's map wins: the sender uses its PTs
            if m is not None:
                out.update(m.rtpmap)
        return out

    def event_pts(self) -> set[int]:
        """The telephone-event PTs this stream may carry: the ones its RECEIVER offered or
        answered (RFC 3264: a party sends with the numbers the other side gave), the
        sender's own only while the receiver's SDP is unknown."""
        if self.receiver is not None:
            return set(self.receiver.telephone_event_pts)
        return set(self.sender.telephone_event_pts) if self.sender is not None else set()


class MediaBook:
    """Dialog builders by Call-ID, and an index from media address to dialog."""

    def __init__(self) -> None:
        self.dialogs: dict[str, _DialogBuilder] = {}
        self.order: list[str] = []
        #: the same Call-ID on each hop between two SIP addresses: a proxy or SBC that keeps the
        #: Call-ID gives a call two legs, each with its own offer/answer (and SRTP keys)
        self._legs: dict[tuple[str, frozenset[str]], _DialogBuilder] = {}
        self._by_addr: dict[tuple[str, int], tuple[str, frozenset[str]]] = {}
        self._by_ssrc: dict[int, str] = {}

    def add(self, msg: SipMessage) -> None:
        d = self.dialogs.get(msg.call_id)
        if d is None:
            d = self.dialogs[msg.call_id] = _DialogBuilder(msg.call_id)
            self.order.append(msg.call_id)
        d.add(msg)
        leg = (msg.call_id, frozenset((msg.src, msg.dst)))
        self._legs.setdefault(leg, _DialogBuilder(msg.call_id)).add(msg)
        if msg.sdp is not None:
            for m in msg.sdp.media:
                if m.port:
                    self._by_addr[(m.addr, m.port)] = leg
                for s in m.ssrcs:
                    self._by_ssrc[s] = msg.call_id

    def _sdp_of(self, leg: tuple[str, frozenset[str]], addr: tuple[str, int]) -> _DialogBuilder:
        """The offer/answer that announced ``addr``: its leg's, when that leg saw both and
        names the address, else the dialog's (e.g. a pjsua log names no address for one end)."""
        b = self._legs.get(leg)
        if b is not None and b.offer is not None and b.answer is not None and _side_of(b, addr) is not None:
            return b
        return self.dialogs[leg[0]]

    def has_call(self, call_id: str) -> bool:
        return call_id in self.dialogs

    def lookup(self, src: tuple[str, int], dst: tuple[str, int], ssrc: int) -> MediaInfo | None:
        for addr, sending in ((src, True), (dst, False)):
            leg = self._by_addr.get(addr)
            if leg is None:
                continue
            d = self._sdp_of(leg, addr)
            side = _side_of(d, addr)
            if side is None:
                continue
            sender_is_offerer = (side[0] == "offer") == sending
            return self._info(d, sender_is_offerer, side[1])
        cid = self._by_ssrc.get(ssrc)
        if cid is not None:
            d = self.dialogs[cid]
            for which, sdp in (("offer", d.offer), ("answer", d.answer)):
                for index, m in enumerate(sdp.media if sdp else ()):
                    if ssrc in m.ssrcs:
                        return self._info(d, which == "offer", index)
        return None

    def _info(self, d: _DialogBuilder, sender_is_offerer: bool, index: int) -> MediaInfo:
        """What the SDP says about the ``index``-th m-line (offer and answer pair up by
        position, RFC 3264): every m-line, audio or video, gives its PTs and clocks."""
        om = _m_line(d.offer, index)
        am = _m_line(d.answer, index)
        sender, receiver = (om, am) if sender_is_offerer else (am, om)
        key: SrtpKey | None = None
        pending = False
        if am is not None and am.crypto and om is not None:
            chosen = am.crypto[0]
            if sender_is_offerer:
                for c in om.crypto:
                    if c.tag == chosen.tag:
                        key = SrtpKey(c.suite, c.key_b64, "sdp")
                        break
            else:
                key = SrtpKey(chosen.suite, chosen.key_b64, "sdp")
        elif om is not None and om.crypto and am is None:
            pending = True
        return MediaInfo(d.call_id, sender, receiver, key, pending)

    def call_for(self, src: tuple[str, int], dst: tuple[str, int], ssrc: int) -> str | None:
        for a in (src, dst):
            leg = self._by_addr.get(a)
            if leg is not None:
                return leg[0]
        return self._by_ssrc.get(ssrc)


def _side_of(d: _DialogBuilder, addr: tuple[str, int]) -> tuple[str, int] | None:
    """("offer"|"answer", m-line index) of the SDP that announced ``addr``."""
    for which, sdp in (("offer", d.offer), ("answer", d.answer)):
        if sdp is None:
            continue
        for index, m in enumerate(sdp.media):
            if (m.addr, m.port) == addr:
                return which, index
    return None


def _m_line(sdp: Sdp | None, index: int) -> SdpMedia | None:
    if sdp is None or index >= len(sdp.media):
        return None
    return sdp.media[index]
