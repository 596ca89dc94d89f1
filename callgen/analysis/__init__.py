"""The capture analyser: what crossed the wire, as evidence for every check.

``analyze_capture(path)`` reads a pcap/pcapng file in one streaming pass and
returns a frozen ``CaptureAnalysis`` (dialogs, RTP streams, DTMF events).
"""

from callgen.analysis.book import build_dialog
from callgen.analysis.model import (
    CaptureAnalysis,
    Crypto,
    Dialog,
    DtmfEvent,
    Gap,
    RtpStream,
    Sdp,
    SdpMedia,
    SipMessage,
    Timeline,
    Truncation,
    XrVoipMetrics,
)
from callgen.analysis.report import ladder_lines, summary_text
from callgen.analysis.scan import analyze_capture
from callgen.analysis.sip import sip_messages_from_pjsua_log, sip_times_in_pjsua_log, srtp_keys_from_pjsua_log
from callgen.analysis.srtp import SrtpKey, parse_cli_key

__all__ = [
    "CaptureAnalysis",
    "Crypto",
    "Dialog",
    "DtmfEvent",
    "Gap",
    "RtpStream",
    "Sdp",
    "SdpMedia",
    "SipMessage",
    "SrtpKey",
    "Timeline",
    "Truncation",
    "XrVoipMetrics",
    "analyze_capture",
    "build_dialog",
    "ladder_lines",
    "parse_cli_key",
    "sip_messages_from_pjsua_log",
    "sip_times_in_pjsua_log",
    "srtp_keys_from_pjsua_log",
    "summary_text",
]
