"""Benchmark: ``callgen analyze --json`` against tshark's two passes on a ~1M-packet capture.

Builds 100 concurrent calls of 200 s (SIP with SDP, PCMA both ways, RFC 4733
digits on PT 120), once nearly clean and once impaired (1% loss, 0.5% duplicates),
runs the analyser as a child process and tshark's RTP-event and ``-z rtp,streams``
passes on each, checks that digits, packet, loss and duplicate counts agree, and
prints wall times, peak RSS and the speed ratio per capture.

    .venv/bin/python bench/bench_analyze.py [--calls 100] [--seconds 200] [--profiles clean,impaired]

Exit status: 0 when the results agree (and, with --strict, the goals are met).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import struct
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "analysis"))

import oracle  # noqa: E402  (tshark parsing shared with the tests)

GOAL_RATIO = 10.0
GOAL_RSS_MB = 150.0
DIGITS = "0123456789*#"
PTIME = 0.04  # 25 packets/s per direction: 100 calls x 2 x 200 s x 25 = 1,000,000 packets
EVENT_PT = 120

REC = struct.Struct("<IIII")
RTP = struct.Struct("!BBHII")
EV = struct.Struct("!BBH")
ETH_IP_UDP = struct.Struct("!12sHBBHHHBBH4s4sHHHH")


def _frame_prefix(src: bytes, sport: int, dst: bytes, dport: int, payload_len: int) -> bytes:
    """Ethernet + IPv4 + UDP headers for a fixed payload length (checksums 0)."""
    return ETH_IP_UDP.pack(b"\x00" * 12, 0x0800, 0x45, 0, 28 + payload_len, 0, 0, 64, 17, 0,
                           src, dst, sport, dport, 8 + payload_len, 0)


def _sdp(ip: str, port: int) -> bytes:
    return (
        f"v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=bench\r\nc=IN IP4 {ip}\r\nt=0 0\r\n"
        f"m=audio {port} RTP/AVP 8 {EVENT_PT}\r\na=rtpmap:8 PCMA/8000\r\n"
        f"a=rtpmap:{EVENT_PT} telephone-event/8000\r\na=fmtp:{EVENT_PT} 0-16\r\na=sendrecv\r\n"
    ).encode()


def _sip(first: str, cid: str, cseq: str, src: str, dst: str, body: bytes = b"") -> bytes:
    head = [first, f"Via: SIP/2.0/UDP {src};branch=z9hG4bK{cid}{cseq.split()[0]}", f"From: <sip:a@{src}>;tag=a",
            f"To: <sip:b@{dst}>;tag=b", f"Call-ID: {cid}", f"CSeq: {cseq}"]
    if body:
        head.append("Content-Type: application/sdp")
    head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


class _Flow:
    """One RTP direction of one call, sending audio and digits like pjsua."""

    def __init__(self, src: str, sport: int, dst: str, dport: int, ssrc: int, rng: random.Random, digits: str):
        self.srcb, self.dstb = bytes(map(int, src.split("."))), bytes(map(int, dst.split(".")))
        self.audio_prefix = _frame_prefix(self.srcb, sport, self.dstb, dport, 12 + 160)
        self.event_prefix = _frame_prefix(self.srcb, sport, self.dstb, dport, 12 + 4)
        self.ssrc = ssrc
        self.seq = rng.randrange(65536)
        self.ts = rng.randrange(1 << 32)
        self.digits = digits
        self.plan: list[tuple[int, str]] = []  # (tick, digit)
        self.event: list | None = None  # [digit code, start ts, tick index within event]
        self.sent = 0

    def packets(self, tick: int, payload: bytes) -> list[bytes]:
        """Frames this flow sends at this tick (audio, or event packets during a digit)."""
        if self.plan and self.plan[0][0] == tick and self.event is None:
            self.event = [DIGITS.index(self.plan.pop(0)[1]), self.ts, 0]
        step = int(8000 * PTIME)
        out = []
        if self.event is not None:
            code, ets, i = self.event
            i += 1
            self.event[2] = i
            end = i == 5  # 5 x 40 ms = 200 ms, like pjsua
            ev = EV.pack(code, (0x80 if end else 0) | 10, i * step)
            for _ in range(3 if end else 1):
                hdr = RTP.pack(0x80, (0x80 if i == 1 and not out else 0) | EVENT_PT, self.seq & 0xFFFF, ets, self.ssrc)
                out.append(self.event_prefix + hdr + ev)
                self.seq += 1
            if end:
                self.event = None
                self.ts = (ets + 5 * step) & 0xFFFFFFFF
            return out
        out.append(self.audio_prefix + RTP.pack(0x80, 8, self.seq & 0xFFFF, self.ts, self.ssrc) + payload)
        self.seq += 1
        self.ts = (self.ts + step) & 0xFFFFFFFF
        return out


def build_capture(path: str, calls: int, seconds: float, seed: int = 1, loss_pct: float = 0.0,
                  dup_pct: float = 0.0) -> dict:
    """Write the capture; return what was sent (digits per SSRC, packets per SSRC).

    ``loss_pct``/``dup_pct``: audio packets dropped / written twice, chosen by a hash of
    the sequence number (never the first or last two ticks of a flow, so every drop is
    a gap inside the stream that both tools must count)."""
    loss_bp, dup_bp = round(loss_pct * 100), round(dup_pct * 100)
    rng = random.Random(seed)
    t0 = 1_700_000_000.0
    ticks = int(seconds / PTIME)
    flows: list[_Flow] = []
    sip_events: list[tuple[float, bytes, bytes, int, int, bytes]] = []
    sent_digits: dict[int, str] = {}
    for c in range(calls):
        a_ip, b_ip = f"127.0.{1 + c // 200}.{1 + c % 200}", f"127.1.{1 + c // 200}.{1 + c % 200}"
        ap, bp = 20000 + 2 * c, 40000 + 2 * c
        cid = f"bench-{c}@127.0.0.1"
        digits = "".join(rng.choice(DIGITS) for _ in range(10))
        fa = _Flow(a_ip, ap, b_ip, bp, 0x10000000 + c, rng, digits)
        fb = _Flow(b_ip, bp, a_ip, ap, 0x20000000 + c, rng, "")
        start = c % 5  # all calls overlap: a few ticks apart
        fa.plan = [(start + 25 + k * (ticks - 50) // len(digits), d) for k, d in enumerate(digits)]
        sent_digits[fa.ssrc] = digits
        flows += [fa, fb]
        ts = t0 + start * PTIME
        A, B = f"{a_ip}:5060", f"{b_ip}:5060"
        ai, bi = fa.srcb, fa.dstb
        sip_events += [
            (ts - 0.03, ai, bi, 5060, 5060, _sip(f"INVITE sip:b@{B} SIP/2.0", cid, "1 INVITE", A, B, _sdp(a_ip, ap))),
            (ts - 0.02, bi, ai, 5060, 5060, _sip("SIP/2.0 200 OK", cid, "1 INVITE", B, A, _sdp(b_ip, bp))),
            (ts - 0.01, ai, bi, 5060, 5060, _sip(f"ACK sip:b@{B} SIP/2.0", cid, "1 ACK", A, B)),
            (t0 + (start + ticks) * PTIME + 0.01, ai, bi, 5060, 5060, _sip(f"BYE sip:b@{B} SIP/2.0", cid, "2 BYE", A, B)),
            (t0 + (start + ticks) * PTIME + 0.02, bi, ai, 5060, 5060, _sip("SIP/2.0 200 OK", cid, "2 BYE", B, A)),
        ]
    sip_events.sort()
    payload = bytes(rng.randrange(256) for _ in range(160))
    written: dict[int, int] = {f.ssrc: 0 for f in flows}
    lost = 0
    duplicated = 0
    n = 0
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        w = f.write
        rec = REC.pack
        si = 0
        for tick in range(ticks + 5):
            now = t0 + tick * PTIME
            while si < len(sip_events) and sip_events[si][0] <= now:
                st, sb, db, sp, dp, data = sip_events[si]
                frame = _frame_prefix(sb, sp, db, dp, len(data)) + data
                sec = int(st)
                w(rec(sec, int((st - sec) * 1e6), len(frame), len(frame)) + frame)
                n += 1
                si += 1
            for k, fl in enumerate(flows):
                call_start = (k // 2) % 5
                if not call_start <= tick < call_start + ticks:
                    continue
                t = now + (k % 97) * 1e-5
                sec = int(t)
                usec = int((t - sec) * 1e6)
                inner = call_start + 2 <= tick < call_start + ticks - 2
                for frame in fl.packets(tick, payload):
                    # deterministic impairment by a hash of the sequence number
                    h = (fl.seq * 2654435761) & 0xFFFFFFFF
                    audio = len(frame) > 100
                    if audio and inner and h % 10000 < loss_bp:
                        lost += 1
                        continue
                    w(rec(sec, usec, len(frame), len(frame)) + frame)
                    written[fl.ssrc] += 1
                    n += 1
                    if audio and (h >> 14) % 10000 < dup_bp:
                        duplicated += 1
                        w(rec(sec, min(usec + 5, 999999), len(frame), len(frame)) + frame)
                        written[fl.ssrc] += 1
                        n += 1
        for st, sb, db, sp, dp, data in sip_events[si:]:
            frame = _frame_prefix(sb, sp, db, dp, len(data)) + data
            sec = int(st)
            w(rec(sec, int((st - sec) * 1e6), len(frame), len(frame)) + frame)
            n += 1
    return {"packets": n, "digits": sent_digits, "per_ssrc": written, "dropped": lost, "duplicated": duplicated}


CPU: dict[str, float] = {}  # CPU seconds (user + system) of the last run of each tool, by output path


def run_measured(argv: list[str], stdout_path: str) -> tuple[float, float, int]:
    """Run a child; return (wall seconds, peak RSS in MB, exit status) from wait4.

    Its CPU time (user + system) is kept in CPU[stdout_path]: on a shared machine the
    wall time of a 2 s run moves with other load far more than its CPU time does."""
    with open(stdout_path, "wb") as out:
        t = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.PIPE)
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t
    CPU[stdout_path] = usage.ru_utime + usage.ru_stime
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode != 0:
        print(f"{argv[0]} failed ({proc.returncode}): {err[-400:]}", file=sys.stderr)
    return wall, usage.ru_maxrss / 1024.0, proc.returncode


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=200.0)
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "out"))
    ap.add_argument("--strict", action="store_true", help="exit 1 when a goal (speed ratio, RSS) is missed")
    ap.add_argument("--no-tshark", action="store_true")
    ap.add_argument("--profiles", default="clean,impaired",
                    help="comma-separated: clean (0.02%% loss, 0.014%% duplicates) and/or impaired (1%% loss, 0.5%% "
                         "duplicates)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    status = 0
    results = []
    for name in args.profiles.split(","):
        loss, dup = PROFILES[name]
        print(f"== {name}: {loss}% audio loss, {dup}% duplicates ==")
        rc, ratio, rss = run_profile(args, name, loss, dup)
        results.append((name, ratio, rss))
        status = max(status, rc)
    for name, ratio, rss in results:
        r = f"{ratio:.1f}x" if ratio is not None else "n/a"
        print(f"RATIO {name}: tshark both passes / callgen = {r} (wall), callgen peak RSS {rss:.0f} MB")
    return status


PROFILES = {"clean": (0.02, 0.014), "impaired": (1.0, 0.5)}


def run_profile(args: argparse.Namespace, name: str, loss_pct: float, dup_pct: float) -> tuple[int, float | None, float]:
    """Build one capture, time callgen and tshark on it, check they agree: (status, ratio, RSS MB)."""
    cap = os.path.join(args.out, f"bench-{name}.pcap")
    t = time.perf_counter()
    sent = build_capture(cap, args.calls, args.seconds, loss_pct=loss_pct, dup_pct=dup_pct)
    print(f"capture: {sent['packets']:,} packets, {os.path.getsize(cap) / 1e6:.0f} MB, "
          f"built in {time.perf_counter() - t:.1f} s ({cap})")

    ours_json = os.path.join(args.out, f"callgen-{name}.json")
    cg_wall, cg_rss, rc = run_measured([sys.executable, "-m", "callgen.analysis", cap, "--json"], ours_json)
    if rc != 0:
        return 2, None, cg_rss
    with open(ours_json) as f:
        doc = json.load(f)
    print(f"callgen analyze --json: {cg_wall:.2f} s, peak RSS {cg_rss:.0f} MB, "
          f"{doc['packets'] / cg_wall / 1000:.0f}k packets/s")

    ok = True
    ours_digits: dict[int, str] = {}
    for e in doc["dtmf"]:
        ours_digits[e["ssrc"]] = ours_digits.get(e["ssrc"], "") + e["digit"]
    if ours_digits != sent["digits"]:
        ok = False
        print("MISMATCH: callgen digits differ from what was sent")
    ours_streams = {s["ssrc"]: s for s in doc["rtp_streams"]}
    if {k: s["packets"] for k, s in ours_streams.items()} != sent["per_ssrc"]:
        ok = False
        print("MISMATCH: callgen packet counts differ from what was written")
    lost_total = sum(s["lost"] for s in doc["rtp_streams"])
    dup_total = sum(s["duplicates"] for s in doc["rtp_streams"])
    print(f"callgen: {len(doc['dialogs'])} dialogs, {len(ours_streams)} streams, {len(doc['dtmf'])} digits, "
          f"lost {lost_total} (dropped {sent['dropped']}), duplicates {dup_total}")
    if lost_total != sent["dropped"]:
        ok = False
        print("MISMATCH: lost packets differ from those dropped")
    if dup_total != sent["duplicated"]:
        ok = False
        print("MISMATCH: duplicates differ from those written twice")

    ratio = None
    if not args.no_tshark and oracle.have_tshark():
        ev_out = os.path.join(args.out, f"tshark-events-{name}.txt")
        st_out = os.path.join(args.out, f"tshark-streams-{name}.txt")
        ev_wall, ev_rss, rc1 = run_measured(
            ["tshark", "-r", cap, "-o", f"rtpevent.event_payload_type_value:{EVENT_PT}", "-Y", "rtpevent",
             "-T", "fields", "-e", "rtp.ssrc", "-e", "rtp.timestamp", "-e", "rtpevent.event_id",
             "-e", "rtpevent.end_of_event"], ev_out)
        st_wall, st_rss, rc2 = run_measured(["tshark", "-r", cap, "-q", "-z", "rtp,streams"], st_out)
        print(f"tshark rtpevent pass: {ev_wall:.2f} s, peak RSS {ev_rss:.0f} MB")
        print(f"tshark rtp,streams pass: {st_wall:.2f} s, peak RSS {st_rss:.0f} MB")
        ratio = (ev_wall + st_wall) / cg_wall
        cpu_ratio = (CPU[ev_out] + CPU[st_out]) / CPU[ours_json]
        print(f"CPU time: callgen {CPU[ours_json]:.2f} s, tshark {CPU[ev_out]:.2f} s + {CPU[st_out]:.2f} s")
        print(f"speed ratio (tshark both passes / callgen): {ratio:.1f}x wall, {cpu_ratio:.1f}x CPU")
        rows = []
        with open(ev_out) as f:
            for line in f:
                p = line.rstrip("\n").split("\t")
                if len(p) >= 4 and p[0]:
                    rows.append((int(p[0], 16), int(p[1]), int(p[2]), p[3] in ("1", "True")))
        if oracle.digits_by_ssrc(rows) != ours_digits:
            ok = False
            print("MISMATCH: tshark digits differ from callgen's")
        with open(st_out) as f:
            theirs = {}
            for line in f:
                m = oracle._STREAM.match(line)
                if m:
                    theirs[int(m.group(5), 16)] = (int(m.group(7)), int(m.group(8)))
        for ssrc, s in ours_streams.items():
            if theirs.get(ssrc) != (s["packets"], s["expected"] - s["packets"]):
                ok = False
                print(f"MISMATCH: stream 0x{ssrc:08X}: tshark {theirs.get(ssrc)}, callgen "
                      f"{(s['packets'], s['expected'] - s['packets'])}")
                break
        if rc1 or rc2:
            ok = False
    print("results agree" if ok else "RESULTS DISAGREE")
    goals = cg_rss < GOAL_RSS_MB and (ratio is None or ratio >= GOAL_RATIO)
    print(f"goals (>= {GOAL_RATIO:.0f}x tshark, < {GOAL_RSS_MB:.0f} MB RSS): {'met' if goals else 'MISSED'}")
    if not ok:
        return 1, ratio, cg_rss
    return (1 if args.strict and not goals else 0), ratio, cg_rss


if __name__ == "__main__":
    raise SystemExit(main())
