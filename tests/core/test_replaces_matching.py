"""Attended transfer without pjsua: Replaces parsing (RFC 3891 header, Refer-To ``?Replaces=``),
matching against the consultation dialog's tags, the language's refusals, and the capture checks
on scapy-built captures of a good transfer and of broken ones."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from callgen.analysis import analyze_capture
from callgen.errors import ScenarioError
from callgen.pjsua.driver import EventKind, parse_line
from callgen.pjsua.features import Feature
from callgen.run.preflight import check_features
from callgen.scenario.loader import load_scenario
from callgen.verdict.media import call_media
from callgen.verdict.transfer import (
    AttendedParties,
    Replaces,
    attended_checks,
    parse_replaces,
    refer_to_replaces,
    replaces_mismatch,
)
from tests.analysis import scapygen as sg
from tests.analysis.capgen import RtpSender, sdp

# -- parsing ----------------------------------------------------------------------------------


def test_parse_replaces_reads_call_id_and_both_tags():
    assert parse_replaces("98732@sip.example.com;from-tag=r33th4x0r;to-tag=ff87ff") == \
        Replaces("98732@sip.example.com", "ff87ff", "r33th4x0r")  # RFC 3891 section 6.1, order free
    assert parse_replaces(" id ; To-Tag = 1 ;from-tag=2;early-only") == Replaces("id", "1", "2", early_only=True)


@pytest.mark.parametrize("value", [None, "", "id;to-tag=1", "id;from-tag=2", ";to-tag=1;from-tag=2"])
def test_parse_replaces_refuses_an_incomplete_value(value):
    assert parse_replaces(value) is None


def test_refer_to_replaces_unescapes_the_uri_header_as_pjsua_writes_it():
    refer_to = ("<sip:carol@127.0.0.1:41204?Replaces=79f91a32-7ebd%40host%3Bto-tag%3Dba99%3Bfrom-tag%3D7d1a"
                "&Require=replaces>")
    assert refer_to_replaces(refer_to) == Replaces("79f91a32-7ebd@host", "ba99", "7d1a")
    assert refer_to_replaces("<sip:carol@127.0.0.1:41204>") is None  # a blind transfer's Refer-To
    assert refer_to_replaces("sip:c@h?replaces=a%3Bto-tag%3Db%3Bfrom-tag%3Dc") == Replaces("a", "b", "c")


def test_driver_reads_pjsuas_call_replaced_line():
    ev = parse_line("10:51:06.733 pjsua_app.c  .Call 0 with <sip:bob@127.0.0.1:5062> is being replaced by call 1 "
                    "with <sip:alice@127.0.0.1>", 1.0)
    assert ev is not None and ev.kind is EventKind.CALL_REPLACED and (ev.call, ev.code) == (0, 1)
    assert ev.reason == "<sip:alice@127.0.0.1>"


# -- a capture built with scapy -------------------------------------------------------------------

A, B, C = "127.0.0.1:5060", "127.0.0.1:5062", "127.0.0.1:5064"
RTP = {"alice": 4000, "bob": 4100, "carol": 4200, "bob2": 4110, "carol2": 4210, "alice2": 4010}


def _msg(first: str, call_id: str, cseq: str, frm: str, to: str, extra: tuple[str, ...] = (), body: bytes = b"") -> bytes:
    head = [first, "Via: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK" + call_id + cseq.replace(" ", ""), f"From: {frm}", f"To: {to}",
            f"Call-ID: {call_id}", f"CSeq: {cseq}", *extra]
    if body:
        head.append("Content-Type: application/sdp" if body.startswith(b"v=0") else "Content-Type: message/sipfrag;version=2.0")
    head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def _sdp(port: int) -> bytes:
    return sdp("127.0.0.1", port, {0: "PCMU/8000"})


@dataclass
class Capture:
    """A good attended transfer; the knobs break one part of it."""

    replaces: str = "consult-1;to-tag=c1;from-tag=b2"  #: the INVITE's Replaces header
    refer_replaces: str = "consult-1%3Bto-tag%3Dc1%3Bfrom-tag%3Db2"
    target_byes: bool = True  #: carol ends the replaced dialog (else bob does, later)
    new_code: int = 200
    frames: list = field(default_factory=list)
    t: float = 1000.0

    def send(self, src: str, dst: str, data: bytes) -> None:
        (sh, sp), (dh, dp) = src.split(":"), dst.split(":")
        self.frames.append(sg.at(self.t, sg.eth(sg.udp(sh, int(sp), dh, int(dp), data))))
        self.t += 0.01

    def dialog(self, cid: str, a: tuple[str, str, str], b: tuple[str, str, str], ports: tuple[int, int],
               extra: tuple[str, ...] = (), code: int = 200) -> None:
        """INVITE from a (addr, user, tag) to b, answered ``code``, ACKed."""
        (aa, au, at), (ba, bu, bt) = a, b
        frm, to = f"<sip:{au}@{aa}>;tag={at}", f"<sip:{bu}@{ba}>"
        self.send(aa, ba, _msg(f"INVITE sip:{bu}@{ba} SIP/2.0", cid, "1 INVITE", frm, to, extra, _sdp(ports[0])))
        self.send(ba, aa, _msg(f"SIP/2.0 {code} {'OK' if code == 200 else 'Nope'}", cid, "1 INVITE", frm, f"{to};tag={bt}", (),
                               _sdp(ports[1]) if code == 200 else b""))
        self.send(aa, ba, _msg(f"ACK sip:{bu}@{ba} SIP/2.0", cid, "1 ACK", frm, f"{to};tag={bt}"))

    def bye(self, cid: str, src: str, dst: str, frm: str, to: str, cseq: int = 2) -> None:
        self.send(src, dst, _msg(f"BYE sip:x@{dst} SIP/2.0", cid, f"{cseq} BYE", frm, to))
        self.send(dst, src, _msg("SIP/2.0 200 OK", cid, f"{cseq} BYE", frm, to))

    def rtp(self, a: int, b: int) -> None:
        for port, dst, ssrc in ((a, b, 1), (b, a, 2)):
            s = RtpSender(ssrc=ssrc, seq=1, ts=0, audio_pt=0)
            s.audio(self.t, 10)
            for t, data in s.packets:
                self.frames.append(sg.at(t, sg.eth(sg.udp("127.0.0.1", port, "127.0.0.1", dst, data))))

    def write(self, path: Path):
        alice, bob = ("127.0.0.1:5060", "alice", "a1"), ("127.0.0.1:5062", "bob", "b1")
        self.dialog("main-1", alice, bob, (RTP["alice"], RTP["bob"]))
        self.dialog("consult-1", ("127.0.0.1:5062", "bob", "b2"), ("127.0.0.1:5064", "carol", "c1"), (RTP["bob2"], RTP["carol"]))
        m_from, m_to = "<sip:alice@127.0.0.1:5060>;tag=a1", "<sip:bob@127.0.0.1:5062>;tag=b1"
        refer_to = f"Refer-To: <sip:carol@127.0.0.1:5064?Replaces={self.refer_replaces}>"
        self.send(B, A, _msg("REFER sip:alice@127.0.0.1:5060 SIP/2.0", "main-1", "2 REFER", m_to, m_from,
                             (refer_to, "Referred-By: <sip:bob@127.0.0.1>")))
        self.send(A, B, _msg("SIP/2.0 202 Accepted", "main-1", "2 REFER", m_to, m_from))
        self.dialog("new-1", ("127.0.0.1:5060", "alice", "a3"), ("127.0.0.1:5064", "carol", "c3"), (RTP["alice2"], RTP["carol2"]),
                    (f"Replaces: {self.replaces}", "Referred-By: <sip:bob@127.0.0.1>"), code=self.new_code)
        self.send(A, B, _msg("NOTIFY sip:bob@127.0.0.1:5062 SIP/2.0", "main-1", "3 NOTIFY", m_from, m_to,
                             ("Event: refer",), f"SIP/2.0 {self.new_code} X\r\n".encode()))
        if self.target_byes and self.new_code == 200:
            self.bye("consult-1", C, B, "<sip:carol@127.0.0.1:5064>;tag=c1", "<sip:bob@127.0.0.1:5062>;tag=b2")
        self.bye("main-1", B, A, m_to, m_from, 4)
        if self.new_code == 200:
            self.rtp(RTP["alice2"], RTP["carol2"])
        if not self.target_byes:
            self.bye("consult-1", B, C, "<sip:bob@127.0.0.1:5062>;tag=b2", "<sip:carol@127.0.0.1:5064>;tag=c1", 3)
        self.frames.sort(key=lambda f: f.time)
        sg.write(path, self.frames)


WHO = AttendedParties("alice", "bob", "carol", frozenset({A}), frozenset({B}), frozenset({C}))


def _checks(tmp_path: Path, cap: Capture) -> dict:
    cap.write(tmp_path / "c.pcap")
    analysis = analyze_capture(str(tmp_path / "c.pcap"))
    main = next(d for d in analysis.dialogs if d.call_id == "main-1")
    out = attended_checks("call1.transfer", analysis.dialogs, main, WHO, lambda d: call_media(analysis, d))
    return {c.name.split(".")[-1]: c for c in out}


def test_a_good_attended_transfer_passes_every_check(tmp_path):
    checks = _checks(tmp_path, Capture())
    assert {n: c.passed for n, c in checks.items()} == dict.fromkeys(
        ("consult", "refer_replaces", "invite_replaces", "new_call_media", "replaced_bye", "transferor_bye"), True)
    assert "RTP 10 packets alice->carol, 10 back" in checks["new_call_media"].seen
    assert all(c.evidence == "capture" for c in checks.values())


@pytest.mark.parametrize("replaces, why", [
    ("other-9;to-tag=c1;from-tag=b2", "Call-ID other-9 is not the consultation call's consult-1"),
    ("consult-1;to-tag=b2;from-tag=c1", "to-tag b2 is not the target's tag c1"),  # the tags swapped
    ("consult-1;to-tag=c1;from-tag=zz", "from-tag zz is not the transferor's tag b2"),
    ("consult-1;to-tag=c1", "no Replaces"),
])
def test_a_replaces_header_naming_another_dialog_fails(tmp_path, replaces, why):
    checks = _checks(tmp_path, Capture(replaces=replaces))
    assert not checks["invite_replaces"].passed and checks["invite_replaces"].reason == why
    assert checks["refer_replaces"].passed  # the REFER named the right dialog: the transferee broke it


def test_a_refer_without_the_right_replaces_fails(tmp_path):
    checks = _checks(tmp_path, Capture(refer_replaces="consult-1%3Bto-tag%3Dc1%3Bfrom-tag%3Dxx"))
    assert not checks["refer_replaces"].passed and checks["refer_replaces"].reason == "from-tag xx is not the transferor's tag b2"


def test_a_target_that_leaves_the_replaced_call_up_fails_the_replaced_bye(tmp_path):
    checks = _checks(tmp_path, Capture(target_byes=False))
    bye = checks["replaced_bye"]
    assert not bye.passed and "did not honour the Replaces" in bye.reason and "(the transferor)" in bye.seen
    assert checks["new_call_media"].passed


def test_a_refused_replacing_invite_fails_media_and_bye_naming_the_code(tmp_path):
    checks = _checks(tmp_path, Capture(new_code=481))
    assert checks["invite_replaces"].passed
    assert not checks["new_call_media"].passed and checks["new_call_media"].reason == "carol answered 481"
    assert "answered the INVITE with Replaces 481" in checks["replaced_bye"].reason


def test_replaces_mismatch_when_the_target_placed_the_dialog(tmp_path):
    """Tags are the recipient's view (RFC 3891): when the target was the caller its tag is From's."""
    Capture().write(tmp_path / "c.pcap")
    consult = next(d for d in analyze_capture(str(tmp_path / "c.pcap")).dialogs if d.call_id == "consult-1")
    assert replaces_mismatch(Replaces("consult-1", "b2", "c1"), consult, target_is_uas=False) == ""
    assert replaces_mismatch(Replaces("consult-1", "c1", "b2"), consult) == ""


# -- the language -----------------------------------------------------------------------------

HEAD = """name: t
agents:
  alice: {role: caller}
  bob: {role: callee}
  carol: {role: callee}
calls:
  - from: alice
    to: bob
    steps:
      - wait: confirmed
"""


def _load(tmp_path: Path, steps: str):
    p = tmp_path / "t.yaml"
    p.write_text(HEAD + steps, encoding="utf-8")
    return load_scenario(p)


def test_attended_is_parsed_and_blind_stays_the_default(tmp_path):
    s = _load(tmp_path, "      - transfer: {by: bob, to: carol, attended: true}\n      - pause: 1\n      - hangup: alice\n")
    assert s.calls[0].steps[1].attended is True
    s = _load(tmp_path, "      - transfer: {by: bob, to: carol}\n")
    assert s.calls[0].steps[1].attended is False


@pytest.mark.parametrize("steps, line, key, words", [
    ("      - transfer: {by: alice, to: carol, attended: true}\n", 11, "calls[0].steps[1].transfer.by",
     "an attended transfer is made by the callee"),
    ("      - transfer: {by: bob, to: carol, attended: true}\n      - hangup: bob\n", 12, "calls[0].steps[2]",
     "after the attended transfer (step 2) the call is between 'alice' and the target"),
    ("      - transfer: {by: bob, to: carol, attended: true}\n      - dtmf: '1'\n", 12, "calls[0].steps[2]",
     "only wait, pause and 'hangup: alice' can follow"),
    ("      - transfer: {by: bob, to: carol, attended: yes please}\n", 11, "calls[0].steps[1].transfer.attended", "not of type 'boolean'"),
])
def test_what_cannot_run_is_refused_with_file_line_and_key(tmp_path, steps, line, key, words):
    with pytest.raises(ScenarioError) as e:
        _load(tmp_path, steps)
    text = str(e.value)
    assert text.startswith(f"{tmp_path / 't.yaml'}:{line}: ") and key in text and words in text, text


def test_a_stock_pjsua_cannot_run_an_attended_transfer(tmp_path):
    s = _load(tmp_path, "      - transfer: {by: bob, to: carol, attended: true}\n")
    with pytest.raises(ScenarioError) as e:
        check_features(s, frozenset(Feature) - {Feature.SELECT_CALL}, "/opt/stock/pjsua")
    assert "attended transfers need a pjsua with menu 'g'" in str(e.value) and ":11: " in str(e.value)
    assert check_features(s, frozenset(Feature), "/x/pjsua") is s
    blind = _load(tmp_path, "      - transfer: {by: bob, to: carol}\n")
    assert check_features(blind, frozenset(), "/opt/stock/pjsua") is blind  # blind transfer needs no patch


def test_an_attended_transfer_through_a_proxy_is_refused(tmp_path):
    """The checks read the dialogs between the agents' own ports: through a proxy they would judge nothing."""
    p = tmp_path / "t.yaml"
    p.write_text(HEAD.replace("bob: {role: callee}", 'bob: {role: callee, proxy: "sip:127.0.0.1:5070;lr"}')
                 + "      - transfer: {by: bob, to: carol, attended: true}\n", encoding="utf-8")
    with pytest.raises(ScenarioError) as e:
        load_scenario(p)
    assert f"{p}:11: calls[0].steps[1].transfer.attended: an attended transfer is checked between agents that talk " \
           "directly; 'bob' talks through a proxy" in str(e.value)


def test_an_attended_transfer_to_a_sipp_agent_is_refused(tmp_path):
    p = tmp_path / "t.yaml"
    p.write_text(HEAD.replace("carol: {role: callee}", "carol: {role: callee, sipp: {scenario: uas}}")
                 + "      - transfer: {by: bob, to: carol, attended: true}\n", encoding="utf-8")
    with pytest.raises(ScenarioError) as e:
        load_scenario(p)
    assert f"{p}:11: calls[0].steps[1].transfer.to: 'carol' is a SIPp agent" in str(e.value)
