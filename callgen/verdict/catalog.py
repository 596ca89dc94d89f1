"""The check seam: every check the verdict can emit, as one named unit.

A ``CheckSpec`` says what a check decides, which evidence it reads (the label its
result carries), which leg(s) of a call it looks at and which rule emits it.  Its
``id`` is a pattern: ``callN.rtp[DIR].loss`` stands for ``call1.rtp[caller->callee].loss``
and the like; the placeholders are the upper-case words of ``PLACEHOLDERS``.

``docs/checks.md`` is generated from ``CATALOG`` (``scripts/checks_reference.py``,
``make reference``); ``tests/core/test_check_catalog.py`` fails when the page is stale
or when a check id the verdict emits matches no entry.

Adding a check: its rule (a function returning ``list[Check]``, each made with
``callgen.verdict.result.check``) and ONE ``CheckSpec`` below; then ``make reference``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: placeholder -> what it stands for (regular expression, and its doc)
PLACEHOLDERS: dict[str, tuple[str, str]] = {
    "N": (r"\d+", "the call's number in the scenario (1, 2, ...)"),
    "M": (r"\d+", "the step's number in the call (1, 2, ...)"),
    "A": (r"[a-z][a-z0-9_-]*", "an agent's name"),
    "DIR": (r"(?:caller->callee|callee->caller)", "a direction of the media: `caller->callee` or `callee->caller`"),
    "STAT": (r"(?:p50|p95|p99|max)", "a statistic of the setup times: `p50`, `p95`, `p99` or `max`"),
    "NAME": (r"[A-Za-z0-9.!%*_+`'~-]+", "a SIP header's name (an RFC 3261 token)"),
    "K": (r"(?:[2-9]|[1-9]\d+)?", "nothing for a call's first transfer step, `2`, `3`, ... for the next ones"),
    "LEG": (r"(?:caller|callee)", "a leg of a call through a system under test: `caller` (caller <-> SUT) or `callee` "
                                  "(SUT <-> callee)"),
}

#: which leg(s) a check looks at (docs/checks.md says what a leg is).  A call whose agents
#: talk to each other has one leg, which is both agents'; through a system under test it
#: has two: the caller's (caller <-> SUT) and the callee's (SUT <-> callee).
CALLER_LEG = "caller's leg"
ONE_LEG = "the call's one leg (a direct call; through a SUT each leg has its own check)"
LEG_IN_SCOPE = "that leg (each leg in `leg:`, default both)"
RECEIVER_LEG = "the receiver's leg"
SENDER_LEG = "the sender's leg"
HANGUP_LEG = "the leg of the agent that hung up"
OTHER_LEG = "the other agent's leg"
CALLEE_LEG = "callee's leg"
BOTH_LEGS = "both legs: the far leg against the near leg"
RUN = "the run"
AGENT = "agent A"
EVERY_CALL = "every load call"


@dataclass(frozen=True)
class CheckSpec:
    id: str  #: the id, or its pattern with PLACEHOLDERS
    decides: str  #: what passes, in one line (the doc line)
    evidence: str  #: the evidence labels its result can carry (where it was seen)
    legs: str  #: which leg(s) of a call it reads (CALLER_LEG, RUN, AGENT, EVERY_CALL)
    rule: str  #: the function that emits it (module.function)
    section: str  #: heading in docs/checks.md
    numbered: bool = False  #: a second outcome of the same name gets ``.2``, ``.3``, ...

    def pattern(self) -> re.Pattern[str]:
        out, pos = [], 0
        for m in re.finditer(r"[A-Z]+", self.id):
            if m.group() not in PLACEHOLDERS:
                raise ValueError(f"{self.id}: unknown placeholder {m.group()!r}")
            out += [re.escape(self.id[pos:m.start()]), PLACEHOLDERS[m.group()][0]]
            pos = m.end()
        out.append(re.escape(self.id[pos:]))
        return re.compile("".join(out) + (r"(?:\.\d+)?" if self.numbered else ""))

    def matches(self, name: str) -> bool:
        return self.pattern().fullmatch(name) is not None


_SIP = "`capture`, or `pjsua log` for SIP over TLS (the capture holds only ciphertext)"

CATALOG: tuple[CheckSpec, ...] = (
    # ---------------------------------------------------------------- the run
    CheckSpec("capture", "a capture file was written and can be read; otherwise the run is an **error (exit 3)**",
              "`tcpdump` / `dumpcap` / `capture`", RUN, "checks.evaluate", "The run"),
    CheckSpec("capture.complete", "the capture tool lived until callgen stopped it, exited on SIGINT (one that had to be killed, "
              "e.g. stopped by SIGSTOP, had stopped capturing), reported no packet dropped by the kernel, and wrote packets; and no "
              "pjsua agent's log shows a SIP message more than 1 s after the capture's last packet (the capture stalled while the "
              "agents still talked); otherwise the run is an **error (exit 3)** naming the tool",
              "`tcpdump` / `dumpcap`", RUN, "checks.run_health", "The run"),
    CheckSpec("agent.A.alive", "agent A's process did not end before callgen stopped it (killed, crashed); otherwise the run "
              "is an **error (exit 3)** naming the agent", "`process`", AGENT, "checks.run_health", "The run"),
    # ---------------------------------------------------------------- SIP of a call
    CheckSpec("callN.invite", "the caller's INVITE is there (from its SIP ports)", _SIP, CALLER_LEG, "checks.sip_checks", "SIP"),
    CheckSpec("callN.sip_in_capture", "fails when plain SIP (UDP/TCP) of a call is only in the pjsua logs: the capture must hold it",
              "`pjsua log`", CALLER_LEG, "checks.sip_checks", "SIP"),
    CheckSpec("callN.final_code", "the final response to the INVITE is the expected code (default: the callee's `answer`, "
              "487 for a callee that only rings)", _SIP, CALLER_LEG, "checks._dialog_checks", "SIP"),
    CheckSpec("callN.answered", "with `expect.answered`: the call was (or was not) answered 2xx", _SIP, CALLER_LEG,
              "checks._dialog_checks", "SIP"),
    CheckSpec("callN.setup_time", "INVITE to final response within `expect.setup_ms_max`", _SIP, CALLER_LEG,
              "checks._dialog_checks", "SIP"),
    CheckSpec("callN.ack", "an ACK for the 2xx", _SIP, CALLER_LEG, "checks._answered_checks", "SIP"),
    CheckSpec("callN.bye", "a BYE from the party that hung up", _SIP, HANGUP_LEG, "checks._answered_checks", "SIP"),
    CheckSpec("callN.bye_answered", "the BYE answered 200", _SIP, HANGUP_LEG, "checks._answered_checks", "SIP"),
    CheckSpec("callN.duration", "2xx to BYE within `expect.duration_min_s` .. `duration_max_s`", _SIP, CALLER_LEG,
              "checks._answered_checks", "SIP"),
    CheckSpec("callN.cancel", "hanging up before the answer: CANCEL answered 200 (only once a provisional response arrived; "
              "before it no CANCEL may be sent)", _SIP, CALLER_LEG, "checks._hangup_checks (hangup step)", "SIP"),
    CheckSpec("callN.hold", "a `hold` step: an in-dialog re-INVITE with a=sendonly (or inactive) **answered 2xx** with a "
              "direction that fits (recvonly/inactive); a re-INVITE refused (e.g. 488) holds nothing", _SIP, CALLER_LEG,
              "checks._hold_checks (hold step)", "SIP"),
    CheckSpec("callN.unhold", "an `unhold` step: a later re-INVITE with a=sendrecv answered 2xx", _SIP, CALLER_LEG,
              "checks._hold_checks (hold step)", "SIP"),
    CheckSpec("callN.LEG_leg.bye", "through a SUT, on the leg of the agent that did not hang up: the SUT's BYE, accepted there "
              "as its relay of the hang-up", _SIP, OTHER_LEG, "legchecks.relayed_bye_checks", "SIP"),
    CheckSpec("callN.LEG_leg.bye_answered", "through a SUT, that BYE answered 200 on the other agent's leg", _SIP, OTHER_LEG,
              "legchecks.relayed_bye_checks", "SIP"),
    CheckSpec("callN.call_id", "with `expect.call_id`: the callee's leg carries the caller's Call-ID (`same`) or another one "
              "(`changed`: topology hiding, a B2BUA)", "`capture`", "both legs: their Call-IDs", "legchecks.call_id_check", "SIP"),
    CheckSpec("callN.callee_leg.cancel", "through a SUT, hanging up before the answer: the CANCEL reached the callee's leg too, "
              "answered 200", _SIP, CALLEE_LEG, "legchecks.cancel_leg_checks", "SIP"),
    CheckSpec("callN.LEG_leg", "through a SUT, fails when a leg an expectation needs is not in the capture (e.g. no INVITE "
              "reached the callee)", "`capture`", LEG_IN_SCOPE, "legchecks._no_leg", "SIP"),
    CheckSpec("callN.pjsua_agrees", "a rejected call: the caller pjsua's own final code agrees with the capture", "`pjsua`",
              CALLER_LEG, "checks.agent_agreement", "SIP"),
    CheckSpec("callN.header.NAME", "`expect.headers`: header NAME of the initial INVITE that reached the callee agent (after "
              "any proxy; for a call to a URI, at any callee agent) has the value, matches the regex, or is absent; a failure "
              "names the header", "`capture`, or `pjsua log (B)` over TLS (callee B's own log)", CALLEE_LEG,
              "headers.header_checks", "SIP"),
    CheckSpec("callN.transferK.refer", "a `transfer` step: the REFER from the transferor answered 202", "`capture`", ONE_LEG,
              "transfer.transfer_checks (transfer step)", "SIP"),
    CheckSpec("callN.transferK.notify", "a `transfer` step: the NOTIFY sipfrags (e.g. 100, 180, 200) end in a 2xx", "`capture`",
              ONE_LEG, "transfer.transfer_checks (transfer step)", "SIP"),
    CheckSpec("callN.transferK.new_call", "a `transfer` step: the transferee's new INVITE with Referred-By to the target, "
              "answered 2xx", "`capture`", ONE_LEG, "transfer.transfer_checks (transfer step)", "SIP"),
    CheckSpec("callN.transferK.consult", "an attended transfer (`attended: true`): the transferor's consultation INVITE to the "
              "target answered 2xx and ACKed", "`capture`", "the consultation dialog (transferor -> target)",
              "transfer.attended_checks (attended transfer step)", "SIP"),
    CheckSpec("callN.transferK.refer_replaces", "an attended transfer: the REFER's Refer-To carries `?Replaces=` naming the "
              "consultation dialog (its Call-ID; to-tag = the target's tag, from-tag = the transferor's, RFC 3891)", "`capture`",
              "the call's dialog (the REFER) against the consultation dialog", "transfer.attended_checks (attended transfer step)",
              "SIP"),
    CheckSpec("callN.transferK.invite_replaces", "an attended transfer: the transferee's new INVITE to the target carries a "
              "`Replaces` header naming the consultation dialog; a failure says which part differs", "`capture`",
              "the replacing dialog (transferee -> target) against the consultation dialog",
              "transfer.attended_checks (attended transfer step)", "SIP"),
    CheckSpec("callN.transferK.new_call_media", "an attended transfer: the replacing call answered 2xx, ACKed, and RTP flowed "
              "both ways (transferee <-> target)", "`capture`", "the replacing dialog (transferee -> target)",
              "transfer.attended_checks (attended transfer step)", "SIP"),
    CheckSpec("callN.transferK.replaced_bye", "an attended transfer: after the INVITE with Replaces the target ends the "
              "consultation dialog with a BYE answered 2xx (RFC 3891 section 3); fails when only the transferor ended it, i.e. "
              "the target ignored Replaces", "`capture`", "the consultation dialog (transferor -> target)",
              "transfer.attended_checks (attended transfer step)", "SIP"),
    CheckSpec("callN.transferK.transferor_bye", "an attended transfer: the transferred dialog (transferee <-> transferor) ended "
              "by a BYE answered 2xx", "`capture`", ONE_LEG, "transfer.attended_checks (attended transfer step)", "SIP"),
    CheckSpec("callN.transferK.new_call_bye", "an attended transfer followed by `hangup` (the caller): the caller's BYE ends "
              "the replacing dialog, answered 2xx (`callN.bye` is then not asked of the transferred dialog)", "`capture`",
              "the replacing dialog (transferee -> target)", "transfer.attended_checks (attended transfer step)", "SIP"),
    CheckSpec("callN.transferK.log", "an attended transfer: the transferor's pjsua logs a final `transfer status` 2xx, and a "
              "pjsua target logs `Call N with ... is being replaced by call M`", "`pjsua log`",
              "the transferor's and the target's pjsua", "transfer._log_check (attended transfer step)", "SIP"),
    CheckSpec("callN.redirect", "a callee with `redirect_to`: its 3xx names the target in Contact, and the caller's next INVITE "
              "(same Call-ID, next CSeq) goes to the target and is answered 2xx; `callN.final_code` is then the target's answer",
              "`capture`", ONE_LEG, "transfer.redirect_checks", "SIP"),
    # ---------------------------------------------------------------- media of a call
    CheckSpec("callN.codec", "the first codec of the SDP answer **and** the audio payload types that really flowed each way; "
              "fails for a declined stream (`m=audio 0`) and when no RTP flowed either way",
              "`capture`", ONE_LEG, "checks._codec_check", "Media"),
    CheckSpec("callN.rtp[DIR].packets", "RTP streams tied to the call by SDP address carry at least `min_packets` in that direction; "
              "packets that failed SRTP authentication (the receiver discards them) count as lost, not as packets",
              "`capture`", ONE_LEG, "media.rtp_checks", "Media"),
    CheckSpec("callN.rtp[DIR].loss", "loss of the direction's streams within `max_loss_pct`", "`capture`", ONE_LEG,
              "media.rtp_checks", "Media"),
    CheckSpec("callN.rtp[DIR].jitter", "jitter of the direction's streams within `max_jitter_ms` (a stream with an unknown clock "
              "fails)", "`capture`", ONE_LEG, "media.rtp_checks", "Media"),
    CheckSpec("callN.rtp[DIR].mos", "the E-model MOS of the direction's worst stream (codec, loss, burstiness, jitter, RTCP round "
              "trip) is at least `mos_min`", "`capture`", ONE_LEG, "media._mos_check", "Media"),
    CheckSpec("callN.rtp[DIR].payload_types", "only payload types the SDP negotiated (RFC 3264: the answer's numbers towards the "
              "answerer, the offer's back, codecs the answer kept)", "`capture`", ONE_LEG, "media._payload_type_check", "Media"),
    CheckSpec("callN.rtp[DIR].loss_reported", "with `max_loss_pct`: the loss the receiver's latest RTCP report gives (packets "
              "discarded after arrival); only for streams such a report is about", "`rtcp` / `srtcp`", ONE_LEG,
              "media._reported_checks", "Media"),
    CheckSpec("callN.rtp[DIR].mos_reported", "with `mos_min`: the E-model MOS with the receiver-reported loss", "`rtcp` / `srtcp`",
              ONE_LEG, "media._reported_checks", "Media"),
    CheckSpec("callN.srtp.sdp", "`srtp: true`: RTP/SAVP with a=crypto (or DTLS) in offer and answer; `srtp: false`: plain RTP/AVP "
              "without crypto", "`capture`", ONE_LEG, "media.srtp_checks", "Media"),
    CheckSpec("callN.srtp.payload", "payload entropy over every packet of an SRTP stream reads as ciphertext (~8 bits/byte; "
              "audio far below)", "`capture`", ONE_LEG,
              "media.srtp_checks", "Media"),
    CheckSpec("callN.srtp.decrypted", "every stream decrypts with the SDP/log keys, which means **every packet** authenticates "
              "(the failing packets' entropy says whether they were plain RTP or another key)", "`capture`", ONE_LEG,
              "media.srtp_checks", "Media"),
    CheckSpec("callN.srtp.no_plain_rtp", "whenever SRTP is expected (mandatory or optional) no plain-looking stream and no packet "
              "failing SRTP authentication",
              "`capture`", ONE_LEG, "media.srtp_checks", "Media"),
    CheckSpec("callN.LEG_leg.codec", "through a SUT: as `callN.codec`, on that leg's SDP answer and RTP (`codec: X` on every leg "
              "in scope, or `codec: {caller: X, callee: Y}` for a transcoding SUT)", "`capture`", LEG_IN_SCOPE,
              "legchecks.relayed_media_checks", "Media"),
    CheckSpec("callN.LEG_leg.rtp[DIR].packets", "through a SUT: as `callN.rtp[DIR].packets`, with only that leg's streams "
              "(source and destination the addresses that leg's SDP named); a failure names the leg and the way on it "
              "(`SBC -> bob on bob's leg`)", "`capture`", LEG_IN_SCOPE, "media.rtp_checks", "Media"),
    CheckSpec("callN.LEG_leg.rtp[DIR].loss", "through a SUT: as `callN.rtp[DIR].loss`, on that leg", "`capture`", LEG_IN_SCOPE,
              "media.rtp_checks", "Media"),
    CheckSpec("callN.LEG_leg.rtp[DIR].jitter", "through a SUT: as `callN.rtp[DIR].jitter`, on that leg", "`capture`",
              LEG_IN_SCOPE, "media.rtp_checks", "Media"),
    CheckSpec("callN.LEG_leg.rtp[DIR].mos", "through a SUT: as `callN.rtp[DIR].mos`, on that leg", "`capture`", LEG_IN_SCOPE,
              "media._mos_check", "Media"),
    CheckSpec("callN.LEG_leg.rtp[DIR].payload_types", "through a SUT: as `callN.rtp[DIR].payload_types`, against that leg's "
              "offer and answer", "`capture`", LEG_IN_SCOPE, "media._payload_type_check", "Media"),
    CheckSpec("callN.LEG_leg.rtp[DIR].loss_reported", "through a SUT: as `callN.rtp[DIR].loss_reported`, on that leg",
              "`rtcp` / `srtcp`", LEG_IN_SCOPE, "media._reported_checks", "Media"),
    CheckSpec("callN.LEG_leg.rtp[DIR].mos_reported", "through a SUT: as `callN.rtp[DIR].mos_reported`, on that leg",
              "`rtcp` / `srtcp`", LEG_IN_SCOPE, "media._reported_checks", "Media"),
    CheckSpec("callN.relay[DIR]", "through a SUT, with both legs in scope: the packets received on the far leg are at least "
              "`100 - max_loss_pct` % (default 90 %) of those sent on the near leg; fails naming the leg where media went "
              "missing", "`capture`", BOTH_LEGS, "legchecks.relay_checks", "Media"),
    CheckSpec("callN.LEG_leg.srtp.sdp", "through a SUT: as `callN.srtp.sdp`, on that leg (`srtp: true` on every leg in scope, "
              "`srtp: {leg: caller}`, `srtp: {caller: true, callee: false}`)", "`capture`", LEG_IN_SCOPE,
              "media.srtp_checks", "Media"),
    CheckSpec("callN.LEG_leg.srtp.payload", "through a SUT: as `callN.srtp.payload`, on that leg", "`capture`", LEG_IN_SCOPE,
              "media.srtp_checks", "Media"),
    CheckSpec("callN.LEG_leg.srtp.decrypted", "through a SUT: as `callN.srtp.decrypted`, on that leg", "`capture`",
              LEG_IN_SCOPE, "media.srtp_checks", "Media"),
    CheckSpec("callN.LEG_leg.srtp.no_plain_rtp", "through a SUT: as `callN.srtp.no_plain_rtp`, on that leg", "`capture`",
              LEG_IN_SCOPE, "media.srtp_checks", "Media"),
    CheckSpec("callN.media_path", "with `expect.media`: `anchored` when the caller's SDP answer points at the SUT, not at the "
              "callee's own media address; `direct` when it points at the callee", "`capture`",
              "both legs: the caller's answer against the callee's own SDP", "legchecks.media_path_check", "Media"),
    CheckSpec("callN.rtp_counters[A]", "an answered call: the RTP packets pjsua agent A says (its log's call dump at the end "
              "of the call's media) it received and sent agree with the capture's packets toward and from A's SDP media "
              "address on A's leg, within 10 packets or 5 % (after a re-negotiation pjsua's counters are the last stream's: the "
              "capture is counted from that answer on). pjsua counted **more** than the capture holds: the capture missed "
              "traffic, the run is an **error (exit 3)** naming the capture tool; the capture holds more than A received: A's "
              "stream never took them (wrong payload type or SSRC, failed SRTP). A side an agent's `impair:` loss applies to "
              "is not compared that way", "`pjsua log A vs capture`", AGENT, "counters.counter_checks", "Media"),
    CheckSpec("callN.srtp.keying[A]", "what agent A's pjsua log says SRTP started with (SDES or DTLS)", "`pjsua log A`", AGENT,
              "media.keying_checks", "Media"),
    # ---------------------------------------------------------------- DTMF and audio
    CheckSpec("callN.dtmf", "RFC 4733 events rebuilt from the (decrypted) capture, of the telephone-event PT the "
              "receiver offered or answered, and SIP INFO digits counted once per "
              "transaction (CSeq) and only when answered 2xx, are the expected digits; `digits: \"\"` asserts that none arrived",
              "`capture`", RECEIVER_LEG, "media.dtmf_checks", "DTMF and audio"),
    CheckSpec("callN.dtmf.method", "the digits arrived by the expected method (RFC 2833 events or SIP INFO)", "`capture`",
              RECEIVER_LEG, "media.dtmf_checks", "DTMF and audio"),
    CheckSpec("callN.dtmf.pjsua_log", "the receiving pjsua's `Incoming DTMF` lines agree with the capture", "`pjsua log A`",
              RECEIVER_LEG, "media.dtmf_checks", "DTMF and audio"),
    CheckSpec("callN.LEG_leg.dtmf", "through a SUT, with `dtmf.leg: both` (the default): the digits left the sender toward the "
              "SUT on its own leg, so digits a relay dropped fail on the receiver's leg while this passes", "`capture`",
              SENDER_LEG, "legchecks.dtmf_leg_checks", "DTMF and audio"),
    CheckSpec("callN.audio[A]", "agent A's recording exists (fails only when it is missing)", "`recording`", AGENT,
              "media.audio_checks", "DTMF and audio"),
    CheckSpec("callN.audio[A].signal", "agent A's recording holds at least `min_active_s` seconds of signal", "`recording`", AGENT,
              "media.audio_checks", "DTMF and audio"),
    CheckSpec("callN.audio[A].tone", "the expected tone dominates agent A's recording (Goertzel)", "`recording`", AGENT,
              "media.audio_checks", "DTMF and audio"),
    CheckSpec("callN.audio[A].pesq", "PESQ MOS-LQO of agent A's recording against the sender's played file is at least `pesq_min`",
              "`recording`", AGENT, "media._pesq_check", "DTMF and audio"),
    # ---------------------------------------------------------------- registration and the agents' own account
    CheckSpec("register.A.capture", "the registrar's answer to agent A's REGISTER (2xx, or a refusal when one is expected)",
              "`capture` (`pjsua log` over TLS)", AGENT, "checks.registration_checks", "The agents' own account"),
    CheckSpec("register.A", "pjsua's own registration result for agent A", "`pjsua`", AGENT, "checks.step_checks",
              "The agents' own account", numbered=True),
    CheckSpec("callN.stepM", "the call's M-th step as pjsua played it (state lines per step); a step pjsua refused (e.g. "
              "RFC 2833 towards a peer without telephone-event) or whose digits did not go out (an INFO answered 501) fails",
              "`pjsua`", CALLER_LEG, "checks.step_checks", "The agents' own account", numbered=True),
    CheckSpec("callN.stepM.connect", "the caller's player/recorder wired to the call once it was confirmed", "`pjsua`", CALLER_LEG,
              "checks.step_checks", "The agents' own account", numbered=True),
    CheckSpec("callN.answer", "a ringing callee answered after its ring time (the call did not end while ringing)", "`pjsua`",
              CALLER_LEG, "checks.step_checks", "The agents' own account", numbered=True),
    CheckSpec("callN.end", "the call ended within 5 s of hanging up, before the next call", "`pjsua`", CALLER_LEG,
              "checks.step_checks", "The agents' own account", numbered=True),
    CheckSpec("callN.sipp", "a call placed by a SIPp uac: SIPp's exit status and call counts", "`sipp`", CALLER_LEG,
              "checks.step_checks", "The agents' own account", numbered=True),
    CheckSpec("sipp.A", "a SIPp uas A: its exit status and call counts", "`sipp`", AGENT, "checks.step_checks",
              "The agents' own account", numbered=True),
    # ---------------------------------------------------------------- load runs
    CheckSpec("load.calls_placed", "every planned call was placed", "`pjsua`", EVERY_CALL, "load.load_checks", "Load"),
    CheckSpec("load.answered_pct", "at least `answered_pct_min` % of the calls answered (ASR)", "`capture`", EVERY_CALL,
              "load.load_checks", "Load"),
    CheckSpec("load.proven_pct", "at least `proven_pct_min` % of the calls proven from the capture (code, ACK, BYE, RTP both "
              "ways, own digits)", "`capture`", EVERY_CALL, "load.load_checks", "Load"),
    CheckSpec("load.setup_ms.STAT", "that statistic of the setup times (INVITE to final response) within its bound", "`capture`",
              EVERY_CALL, "load.load_checks", "Load"),
    CheckSpec("load.rtp.loss", "every answered call's loss within `max_loss_pct` each way", "`capture`", EVERY_CALL,
              "load.load_checks", "Load"),
    CheckSpec("load.rtp.jitter", "every answered call's jitter within `max_jitter_ms` each way", "`capture`", EVERY_CALL,
              "load.load_checks", "Load"),
    CheckSpec("load.dtmf_ok_pct", "at least `dtmf_ok_pct_min` % of the answered calls show exactly their own digits (through a "
              "SUT: on the receiver's, the callee's, leg)", "`capture`", EVERY_CALL, "load.load_checks", "Load"),
    CheckSpec("load.LEG_leg.proven_pct", "a load through a system under test: at least `proven_pct_min` % of the calls proven on "
              "that leg (caller <-> SUT, or SUT <-> callee found by the callee's own SIP address and joined to its call by the "
              "`{n}` header, the Call-ID, the From tag or the order): its final code, ACK, BYE answered 200, RTP both ways by "
              "the leg's own 5-tuples, the packets relayed across the SUT, and on the callee's leg the call's own digits; the "
              "calls that fail on it named with why", "`capture`", "each leg of every load call", "loadlegs.leg_checks", "Load"),
)


def entry(name: str) -> CheckSpec | None:
    """The catalog entry a check id belongs to (None: the verdict emitted an undescribed check)."""
    return next((spec for spec in CATALOG if spec.matches(name)), None)
