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
}

#: which leg(s) a check looks at.  Today every call check reads the caller's leg: the
#: dialog the caller placed (one leg per call).
CALLER_LEG = "caller's leg"
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
    CheckSpec("callN.bye", "a BYE from the party that hung up", _SIP, CALLER_LEG, "checks._answered_checks", "SIP"),
    CheckSpec("callN.bye_answered", "the BYE answered 200", _SIP, CALLER_LEG, "checks._answered_checks", "SIP"),
    CheckSpec("callN.duration", "2xx to BYE within `expect.duration_min_s` .. `duration_max_s`", _SIP, CALLER_LEG,
              "checks._answered_checks", "SIP"),
    CheckSpec("callN.cancel", "hanging up before the answer: CANCEL answered 200 (only once a provisional response arrived; "
              "before it no CANCEL may be sent)", _SIP, CALLER_LEG, "checks._hangup_checks (hangup step)", "SIP"),
    CheckSpec("callN.hold", "a `hold` step: an in-dialog re-INVITE with a=sendonly (or inactive) **answered 2xx** with a "
              "direction that fits (recvonly/inactive); a re-INVITE refused (e.g. 488) holds nothing", _SIP, CALLER_LEG,
              "checks._hold_checks (hold step)", "SIP"),
    CheckSpec("callN.unhold", "an `unhold` step: a later re-INVITE with a=sendrecv answered 2xx", _SIP, CALLER_LEG,
              "checks._hold_checks (hold step)", "SIP"),
    CheckSpec("callN.pjsua_agrees", "a rejected call: the caller pjsua's own final code agrees with the capture", "`pjsua`",
              CALLER_LEG, "checks.agent_agreement", "SIP"),
    # ---------------------------------------------------------------- media of a call
    CheckSpec("callN.codec", "the first codec of the SDP answer **and** the audio payload types that really flowed each way; "
              "fails for a declined stream (`m=audio 0`) and when no RTP flowed either way",
              "`capture`", CALLER_LEG, "checks._codec_check", "Media"),
    CheckSpec("callN.rtp[DIR].packets", "RTP streams tied to the call by SDP address carry at least `min_packets` in that direction; "
              "packets that failed SRTP authentication (the receiver discards them) count as lost, not as packets",
              "`capture`", CALLER_LEG, "media.rtp_checks", "Media"),
    CheckSpec("callN.rtp[DIR].loss", "loss of the direction's streams within `max_loss_pct`", "`capture`", CALLER_LEG,
              "media.rtp_checks", "Media"),
    CheckSpec("callN.rtp[DIR].jitter", "jitter of the direction's streams within `max_jitter_ms` (a stream with an unknown clock "
              "fails)", "`capture`", CALLER_LEG, "media.rtp_checks", "Media"),
    CheckSpec("callN.rtp[DIR].mos", "the E-model MOS of the direction's worst stream (codec, loss, burstiness, jitter, RTCP round "
              "trip) is at least `mos_min`", "`capture`", CALLER_LEG, "media._mos_check", "Media"),
    CheckSpec("callN.rtp[DIR].payload_types", "only payload types the SDP negotiated (RFC 3264: the answer's numbers towards the "
              "answerer, the offer's back, codecs the answer kept)", "`capture`", CALLER_LEG, "media._payload_type_check", "Media"),
    CheckSpec("callN.rtp[DIR].loss_reported", "with `max_loss_pct`: the loss the receiver's latest RTCP report gives (packets "
              "discarded after arrival); only for streams such a report is about", "`rtcp` / `srtcp`", CALLER_LEG,
              "media._reported_checks", "Media"),
    CheckSpec("callN.rtp[DIR].mos_reported", "with `mos_min`: the E-model MOS with the receiver-reported loss", "`rtcp` / `srtcp`",
              CALLER_LEG, "media._reported_checks", "Media"),
    CheckSpec("callN.srtp.sdp", "`srtp: true`: RTP/SAVP with a=crypto (or DTLS) in offer and answer; `srtp: false`: plain RTP/AVP "
              "without crypto", "`capture`", CALLER_LEG, "media.srtp_checks", "Media"),
    CheckSpec("callN.srtp.payload", "payload entropy over every packet of an SRTP stream reads as ciphertext (~8 bits/byte; "
              "audio far below)", "`capture`", CALLER_LEG,
              "media.srtp_checks", "Media"),
    CheckSpec("callN.srtp.decrypted", "every stream decrypts with the SDP/log keys, which means **every packet** authenticates "
              "(the failing packets' entropy says whether they were plain RTP or another key)", "`capture`", CALLER_LEG,
              "media.srtp_checks", "Media"),
    CheckSpec("callN.srtp.no_plain_rtp", "whenever SRTP is expected (mandatory or optional) no plain-looking stream and no packet "
              "failing SRTP authentication",
              "`capture`", CALLER_LEG, "media.srtp_checks", "Media"),
    CheckSpec("callN.srtp.keying[A]", "what agent A's pjsua log says SRTP started with (SDES or DTLS)", "`pjsua log A`", AGENT,
              "media.keying_checks", "Media"),
    # ---------------------------------------------------------------- DTMF and audio
    CheckSpec("callN.dtmf", "RFC 4733 events rebuilt from the (decrypted) capture, of the telephone-event PT the "
              "receiver offered or answered, and SIP INFO digits counted once per "
              "transaction (CSeq) and only when answered 2xx, are the expected digits; `digits: \"\"` asserts that none arrived",
              "`capture`", CALLER_LEG, "media.dtmf_checks", "DTMF and audio"),
    CheckSpec("callN.dtmf.method", "the digits arrived by the expected method (RFC 2833 events or SIP INFO)", "`capture`",
              CALLER_LEG, "media.dtmf_checks", "DTMF and audio"),
    CheckSpec("callN.dtmf.pjsua_log", "the receiving pjsua's `Incoming DTMF` lines agree with the capture", "`pjsua log A`",
              CALLER_LEG, "media.dtmf_checks", "DTMF and audio"),
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
    CheckSpec("load.dtmf_ok_pct", "at least `dtmf_ok_pct_min` % of the answered calls show exactly their own digits", "`capture`",
              EVERY_CALL, "load.load_checks", "Load"),
)


def entry(name: str) -> CheckSpec | None:
    """The catalog entry a check id belongs to (None: the verdict emitted an undescribed check)."""
    return next((spec for spec in CATALOG if spec.matches(name)), None)
