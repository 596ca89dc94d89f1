"""``callgen analyze FILE``: the capture analyser on its own, for any capture."""

from __future__ import annotations

import argparse
import json

from callgen.analysis.report import summary_text
from callgen.analysis.scan import analyze_capture
from callgen.analysis.srtp import parse_cli_key
from callgen.errors import ExitStatus


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "analyze",
        help="analyse a pcap/pcapng capture: SIP dialogs, RTP streams, DTMF, SRTP",
        description="Analyse a capture (pcap or pcapng): SIP ladder per dialog, RTP streams with loss and "
        "jitter, RFC 4733 and SIP INFO DTMF digits; SRTP streams are decrypted with SDES keys from the SDP, "
        "pjsua logs or --srtp-key.",
    )
    p.add_argument("file", metavar="FILE", help="capture file (pcap or pcapng)")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of the summary")
    p.add_argument(
        "--srtp-key",
        action="append",
        default=[],
        metavar="SUITE:B64",
        help="SRTP master key||salt for streams whose SDP key is unknown, e.g. AES_CM_128_HMAC_SHA1_80:<base64>;"
        " repeatable, the key whose auth tag verifies is used",
    )
    p.add_argument(
        "--keys-from",
        action="append",
        default=[],
        metavar="LOG",
        help="pjsua --log-file (level 5): SIP messages and SDES keys when SIP ran over TLS; repeatable",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace, io) -> int:
    keys = [parse_cli_key(k) for k in args.srtp_key]
    analysis = analyze_capture(args.file, srtp_keys=keys, key_logs=args.keys_from, partial=True)
    if args.json:
        write_json(analysis.to_json(), io.out)
    else:
        io.out.write(summary_text(analysis))
    for w in analysis.warnings:
        io.err.write(f"callgen: warning: {w}\n")
    # A cut file is analysed as far as it goes, but a script must be able to tell it
    # from a whole one: exit 1 (2 stays "nothing could be analysed").
    # A corrupt record mid-file is skipped to the next valid one, and exits 1 the same way.
    return int(ExitStatus.CHECKS_FAILED) if analysis.truncated or analysis.corrupt else int(ExitStatus.OK)


def write_json(doc: dict, out) -> None:
    """The document with one line per top-level key and per list item (dialog, stream,
    DTMF event): readable, and written by json's C encoder (an indented dump goes
    through the pure-Python one, slow on the stream timelines of a long capture)."""
    out.write("{\n")
    last = len(doc) - 1
    for i, (k, v) in enumerate(doc.items()):
        out.write(f" {json.dumps(k)}: ")
        if isinstance(v, list) and v:
            out.write("[\n" + ",\n".join("  " + json.dumps(x) for x in v) + "\n ]")
        else:
            out.write(json.dumps(v))
        out.write(",\n" if i < last else "\n")
    out.write("}\n")
