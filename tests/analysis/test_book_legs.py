"""One Call-ID, two legs (a proxy or SBC that keeps the Call-ID): what the SDP says about a
stream comes from the offer/answer of the hop that carried it, not from the first offer and
answer under that Call-ID (issue 19).  An SBC bridging SRTP to plain RTP showed why: bob's
plain leg was taken for SRTP (alice's offer) and its every packet "failed authentication"."""

from __future__ import annotations

from callgen.analysis.book import MediaBook
from callgen.analysis.model import Crypto, Sdp, SdpMedia, SipMessage

ALICE, SBC, BOB = "127.0.0.1:5060", "127.0.0.1:7000", "127.0.0.1:5062"
T0 = 1_700_000_000.0


def sdp(port: int, srtp: bool, key: str = "a2V5") -> Sdp:
    return Sdp((SdpMedia("audio", "127.0.0.1", port, "RTP/SAVP" if srtp else "RTP/AVP", (0, 101),
                         {0: ("PCMU", 8000), 101: ("telephone-event", 8000)}, (101,), "sendrecv",
                         (Crypto(1, "AES_CM_128_HMAC_SHA1_80", key),) if srtp else ()),))


def msg(t: float, src: str, dst: str, method: str | None, status: int | None, body: Sdp) -> SipMessage:
    headers = (("From", "<sip:alice@127.0.0.1>;tag=a"), ("To", "<sip:bob@127.0.0.1>" + (";tag=b" if status else "")),
               ("Call-ID", "one"), ("CSeq", "1 INVITE"))
    return SipMessage(T0 + t, src, dst, "udp", method, status, "OK" if status else "", "INVITE", "one", headers,
                      b"v=0\r\n", body, 1)


def book() -> MediaBook:
    b = MediaBook()
    for m in (msg(0.0, ALICE, SBC, "INVITE", None, sdp(4000, True, "YWxpY2U=")),
              msg(0.1, SBC, BOB, "INVITE", None, sdp(9002, False)),  # SDES-off toward bob
              msg(0.2, BOB, SBC, None, 200, sdp(4002, False)),
              msg(0.3, SBC, ALICE, None, 200, sdp(9000, True, "c2Jj"))):
        b.add(m)
    return b


def test_the_plain_leg_is_plain_and_the_srtp_leg_has_its_own_keys():
    b = book()
    to_bob = b.lookup(("127.0.0.1", 9002), ("127.0.0.1", 4002), 1)
    assert to_bob is not None and not to_bob.savp and to_bob.key is None
    from_bob = b.lookup(("127.0.0.1", 4002), ("127.0.0.1", 9002), 2)
    assert from_bob is not None and not from_bob.savp
    # on alice's leg each side's own key protects what it sends: the SBC's toward alice
    to_alice = b.lookup(("127.0.0.1", 9000), ("127.0.0.1", 4000), 1)
    assert to_alice.savp and to_alice.key is not None and to_alice.key.key_b64 == "c2Jj"
    from_alice = b.lookup(("127.0.0.1", 4000), ("127.0.0.1", 9000), 3)
    assert from_alice.key is not None and from_alice.key.key_b64 == "YWxpY2U="
    assert b.call_for(("127.0.0.1", 9002), ("127.0.0.1", 4002), 1) == "one"
