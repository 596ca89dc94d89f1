"""Measure the call-quality table (docs/call-quality.md): one real call per codec (and SRTP setting).

For each row, bob (callee) plays ~9 s of espeak-ng speech, alice (caller) records it; the
call lasts CALL_S seconds. Reported per row, from callgen's own checks: the E-model MOS of
each direction (from the capture) and the PESQ MOS-LQO of what alice heard.

    PJSUA=/path/to/pjsua python bench/quality_table.py [--loss 5] [--out DIR]

Prints a Markdown table. Needs pjsua, tcpdump, espeak-ng and sox (make setup).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CALL_S = 12
SENTENCES = ("The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background. "
             "It is easy to tell the depth of a well. These days a chicken leg is a rare dish.")
CODECS = ("PCMA", "PCMU", "G722", "GSM", "opus")

BODY = """\
name: {name}
timeout: 60
agents:
  alice: {{role: caller, codecs: [{codec}], audio: {{record: true}}{srtp}}}
  bob: {{role: callee, codecs: [{codec}], audio: {{play: speech.wav}}{srtp}{impair}}}
calls:
  - from: alice
    to: bob
    steps:
      - wait: confirmed
      - pause: {secs}
      - hangup: alice
      - wait: disconnected
    expect:
      codec: {codec}
      rtp: {{mos_min: 1}}
      audio: {{receiver: alice, pesq_min: 1}}
"""


def speech(path: Path) -> None:
    raw = path.with_suffix(".raw.wav")
    subprocess.run(["espeak-ng", "-w", str(raw), SENTENCES], check=True, timeout=60)
    subprocess.run(["sox", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(path)], check=True, timeout=60)


def figure(seen: str, label: str) -> str:
    return seen.split(label, 1)[1].split()[0] if label in seen else "-"


def row(work: Path, codec: str, srtp: bool, loss: int) -> str:
    name = f"{codec.lower()}{'-srtp' if srtp else ''}{f'-loss{loss}' if loss else ''}"
    (work / f"{name}.yaml").write_text(BODY.format(
        name=name, codec=codec, secs=CALL_S, srtp=", srtp: {use: mandatory}" if srtp else "",
        impair=f", impair: {{tx_loss_pct: {loss}}}" if loss else ""), encoding="utf-8")
    subprocess.run([sys.executable, "-m", "callgen", "run", str(work / f"{name}.yaml"), "-o", str(work / "out")],
                   capture_output=True, timeout=120)
    result = json.loads((work / "out" / name / "result.json").read_text())
    c = {x["name"]: x for x in result["checks"]}
    fwd, bwd = c.get("call1.rtp[caller->callee].mos"), c.get("call1.rtp[callee->caller].mos")
    pesq = c.get("call1.audio[alice].pesq")
    loss_seen = c.get("call1.rtp[callee->caller].mos", {}).get("seen", "")
    return (f"| {codec} | {'SDES, AES_256_CM' if srtp else 'no'} | {loss or 0} % | {figure(loss_seen, 'loss ').rstrip(',')} | "
            f"{figure(fwd['seen'], 'MOS ') if fwd else '-'} | {figure(bwd['seen'], 'MOS ') if bwd else '-'} | "
            f"{figure(pesq['seen'], 'MOS-LQO ') if pesq else '-'} "
            f"({figure(pesq['seen'], '(').rstrip(',') if pesq else '?'}) |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--loss", type=int, default=5, help="also run PCMA and G722 with this tx loss at bob (0: skip)")
    ap.add_argument("--codecs", default=",".join(CODECS))
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    work = args.out or Path(tempfile.mkdtemp(prefix="callgen-quality-"))
    work.mkdir(parents=True, exist_ok=True)
    speech(work / "speech.wav")
    print("| codec | SRTP | loss injected (bob tx) | loss seen bob->alice | E-model MOS alice->bob | "
          "E-model MOS bob->alice | PESQ at alice (mode) |")
    print("|---|---|---|---|---|---|---|")
    for codec in args.codecs.split(","):
        for srtp in (False, True):
            print(row(work, codec, srtp, 0), flush=True)
    if args.loss:
        for codec in ("PCMA", "G722"):
            print(row(work, codec, False, args.loss), flush=True)
    print(f"\nrun folders: {work / 'out'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
