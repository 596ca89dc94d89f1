"""Everything callgen reads from pjsua's console output, in one place.

pjsua (pjproject 2.x, legacy console UI) prints its log at the console level
given by ``--app-log-level`` (we use 4, for media state lines) and its menu on stdout.  Each pattern
below names the source line in pjsip-apps/src/pjsua/ that prints it, so a
pjproject upgrade that changes a message is found here first.
"""

from __future__ import annotations

import re

#: pjsua_app_legacy.c keystroke_help()/print menu: printed once pjsua is up and
#: after every command; "You have 0 active call" is the readiness signal.
READY = re.compile(r"You have (\d+) active calls?")

#: pjsua_app.c on_call_state(): "Call 0 state changed to EARLY (180 Ringing)"
#: State names are pjsip_inv_state_name(): NULL CALLING INCOMING EARLY
#: CONNECTING CONFIRMED DISCONNCTD (sic) TERMINATED.
CALL_STATE = re.compile(r"Call (\d+) state changed to (NULL|CALLING|INCOMING|EARLY|CONNECTING|CONFIRMED|DISCONNCTD|TERMINATED)"
                        r"(?: \((\d{3}) ([^)]*)\))?")  # the names, not [A-Z]+: "CONFIRMEDCall id ..." (glued lines)

#: pjsua_app.c on_call_state(): "Call 0 is DISCONNECTED [reason=486 (Busy Here)]"; the reason may
#: hold parentheses: "[reason=503 (SSL certificate verification error (PJSIP_TLS_ECERTVERIF))]"
DISCONNECTED = re.compile(r"Call (\d+) is DISCONNECTED \[reason=(\d+) \((.*?)\)\]")

#: pjsua_app.c on_call_generic_media_state() (console level 4):
#: "Call 0 media 0 [type=audio], status is Local hold"  (None/Active/Local hold/Remote hold/Error)
MEDIA_STATE = re.compile(r"Call (\d+) media (\d+) \[type=(\w+)\], status is ([A-Za-z ]+)")

#: pjsua_app.c on_incoming_call(): "Incoming call for account 0!" followed by
#: "Media count: ..." "From: ..." "To: ..." lines.
INCOMING = re.compile(r"Incoming call for account (\d+)!")

#: pjsua_app.c call_on_dtmf_callback()/on_dtmf_digit2():
#: "Incoming DTMF on call 0: 5, using RFC2833 method"
#: "Incoming DTMF on call 0: 4:duration(160), using SIP INFO method"
#: older builds: "Incoming DTMF on call 0: 5"
DTMF = re.compile(r"Incoming DTMF on call (\d+): ([0-9A-Da-d*#])(?::duration\((\d+)\))?(?:, using (.+?) method)?\s*$")

#: pjmedia stream.c create_dtmf_payload() (level 4): "Sending DTMF digit id 5" as each
#: RFC 2833 digit's first packet goes out (pjsua queues digits and sends them one by one)
DTMF_SENDING = re.compile(r"Sending DTMF digit id ([0-9A-Da-d*#R])\s*$")

#: pjsua_call.c on_call_tsx_state() (level 4), the final response to each DTMF INFO:
#: "Call 0: DTMF sent successfully with INFO" / "Call 0: Failed to send DTMF with INFO: 501/Not Implemented"
INFO_DTMF_OK = re.compile(r"Call (\d+): DTMF sent successfully with INFO")
INFO_DTMF_FAILED = re.compile(r"Call (\d+): Failed to send DTMF with INFO: (\d+)/(.*?)\s*$")

#: pjsua_app_legacy.c ui_send_dtmf_2833()/ui_send_dtmf_info(): pjsua would not send at all,
#: "Unable to send DTMF: Remote does not support RFC 2833 [status=220111]" (pjsua_perror),
#: "Media is not established yet!", "No current call", "Call has been disconnected"
DTMF_REFUSED = re.compile(r"((?:Unable to send DTMF|Error sending DTMF): .+|Media is not established yet!|"
                          r"No current call|Call has been disconnected)")

#: pjsua_acc.c regc_cb(): "sip:alice@127.0.0.1: registration success, status=200 (OK), will re-register in 300 seconds"
REG_SUCCESS = re.compile(r"registration success, status=(\d+) \(([^)]*)\)")
#: pjsua_app.c on_call_transfer_status(): "Call 0: transfer status=200 (OK) [final]" (one per NOTIFY)
TRANSFER_STATUS = re.compile(r"Call (\d+): transfer status=(\d+) \(([^)]*)\)( \[final\])?")

#: pjsua_app.c on_call_replaced(), at the transfer target when an INVITE with Replaces takes over a call:
#: "Call 0 with <sip:bob@127.0.0.1:5062> is being replaced by call 1 with <sip:alice@127.0.0.1:5060>"
CALL_REPLACED = re.compile(r"Call (\d+) with (.*?) is being replaced by call (\d+) with (.*?)\s*$")
#: pjsua_app_legacy.c ui_call_transfer_replaces(): why menu 'X' sent no REFER
XFER_REFUSED = re.compile(r"(There are no other calls|Invalid destination call number|"
                          r"Destination call number must not be the same.*|Call has been disconnected|No current call)")

#: pjsua_acc.c regc_cb(): "sip:alice@127.0.0.1: unregistration success" (the answer to menu 'ru')
UNREG_SUCCESS = re.compile(r"unregistration success")
#: pjsua_acc.c regc_cb(): "SIP registration failed, status=401 (Unauthorized)"
REG_FAILED = re.compile(r"registration failed, status=(\d+) \(([^)]*)\)")

#: pjsua's own fatal errors at start-up (bad option, port in use):
#: "Error: ..." from pjsua_app_config.c, "Unable to ..." from pjsua_perror().
#: pjsua_core.c: "bind() error: Address already in use [status=120098]" (a fixed port that is taken)
STARTUP_ERROR = re.compile(r"(Error: .+|Unable to .+|Invalid .+ argument.*|unrecognized option.*|bind\(\) error: .+)")
#: the same bind() failure, alone: the SIP port pjsua was told to use is taken by another process
BIND_ERROR = re.compile(r"bind\(\) error: .+")

#: pjmedia transport_srtp.c (log file, level 4+): "SRTP started, keying=SDES, crypto=AES_256_CM_HMAC_SHA1_80"
#: or "keying=DTLS-SRTP"; group 1 is SDES or DTLS
SRTP_STARTED = re.compile(r"SRTP started, keying=(SDES|DTLS)(?:-SRTP)?, crypto=(\S+)")

#: pjsua_call.c via pjsua_perror(): why a call could not even be placed, e.g.
#: "pjsua_call.c  .Unable to generate Contact header: Unsupported transport (PJSIP_EUNSUPTRANSPORT) [status=171060]"
#: pjsua_call_make_call() at --max-calls (PJ_ETOOMANY): "Error making call: Too many objects of the specified type"
TOO_MANY_CALLS = re.compile(r"Too many objects")

CALL_ERROR = re.compile(r"pjsua_call\.c\s+\.*((?:Unable to|Error) .+)")

#: Echo barrier: with "echo 1" pjsua prints each menu command it reads
#: (pjsua_app_legacy.c: if (cmd_echo) printf("%s", menuin)).  Sending
#: "echo <token>" both keeps echo on and proves every earlier line was read.
ECHO_COMMAND = "echo {token}"
ECHO_SEEN = re.compile(r"echo (callgen-sync-[0-9a-f]+)")

#: Menu keystrokes (pjsua_app_legacy.c console_app_main()).
CMD_MAKE_CALL = "m"  # then the URL on the next line
CMD_HANGUP = "h"  # current call
CMD_HANGUP_ALL = "ha"
CMD_QUIT = "q"
CMD_TRANSFER = "x"  # then the target URL ("Transfer to URL"): blind transfer of the current call
CMD_TRANSFER_REPLACES = "X"  # then the call id to replace ("Enter call number to be replaced"): attended transfer
CMD_UNREGISTER = "ru"  # the current account un-REGISTERs
CMD_ANSWER = "a"  # then the status code on the next line (current incoming call)
CMD_DTMF_2833 = "#"  # then the digits on the next line (RFC 2833/4733 events)
CMD_DTMF_INFO = "*"  # then the digits on the next line (SIP INFO)
CMD_HOLD = "H"  # re-INVITE with a=sendonly
CMD_REINVITE = "v"  # re-INVITE releasing hold (a=sendrecv)
CMD_LIST_PORTS = "cl"
CMD_CONNECT = "cc"  # then "Connect src port" and "To dst port" lines
#: callgen's patches (scripts/pjsua-patches): a stock pjsua has neither
CMD_NEXT_CALL_HEADER = "k"  # then "Name: value": a header of the next 'm' call only (patch 0001)
CMD_SELECT_CALL = "g"  # then the call id: it becomes the current call (patch 0002)

#: patch 0002 ui_select_call(), and pjsua_app_legacy.c's empty-line answer: "Current call id=1";
#: or "Call 7 is not active" (group 2: what was asked for)
CALL_SELECTED = re.compile(r"Current call id=(-?\d+)|Call (\S+) is not active")

#: pjsua_app_common.c / pjsua_app_legacy.c 'cl': one line per conference port,
#: e.g. "Port #01[16KHz/20ms/1] tone_1000hz_3s.wav  transmitting to: #3"
CONF_PORT = re.compile(r"Port #(\d+)\[[^\]]*\]\s+(\S.*?)\s{2,}transmitting to:")

#: States as printed, mapped to what scenario steps wait for.
STATE_CALLING = "CALLING"
STATE_INCOMING = "INCOMING"
STATE_EARLY = "EARLY"
STATE_CONNECTING = "CONNECTING"
STATE_CONFIRMED = "CONFIRMED"
STATE_DISCONNECTED = "DISCONNCTD"

#: pjsua_media.c pjsua_media_channel_deinit() (log file, level 4+): "Call 0: deinitializing media..",
#: followed by the call's dump (pjsua_call.c pjsua_call_dump(), untimed lines):
#: "  [CONFIRMED] To: sip:bob@127.0.0.1;tag=415d..." (the remote party, its tag)
#: "    #0 audio PCMA @8kHz, sendrecv, peer=127.0.0.1:28460" (each media line)
#: "       RX pt=8, last update:..." then "          total 151pkt 24.1KB ..." (pjmedia_rtcp_stat rx)
#: "       TX pt=8, ptime=20, ..." then "          total 150pkt 24.0KB ..." (tx)
#: The counters are the last stream's: pjsua builds a new stream at every re-negotiation (hold,
#: unhold), so they count only what the stream created last sent and received.
DUMP_START = re.compile(r"Call (\d+): deinitializing media")
DUMP_TO = re.compile(r"^\s+\[([A-Z]+)\] To: (.*)$")
DUMP_MEDIA = re.compile(r"^\s+#(\d+) (\w+)\b(?:.*peer=(\S+))?")
DUMP_DIRECTION = re.compile(r"^\s+(RX|TX) pt=")
DUMP_TOTAL = re.compile(r"^\s+total (\d+)pkt")
#: a timed pjsua log line ("12:04:55.675   pjsua_media.c  ..."): the dump's untimed lines end before it
LOG_TIME = re.compile(r"^(\d\d):(\d\d):(\d\d)\.(\d{3}) ")
