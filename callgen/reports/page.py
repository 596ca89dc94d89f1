"""One scenario as HTML: failure first, then per call the SIP ladder (SVG) with
every message, the media at a glance and the DTMF digits, then all checks and
the files.  ``scenario_section`` is shared by the run index and by the page
written into each run folder (``render_run_page``).

The page is self-contained (inline CSS and SVG, no network) and works with
JavaScript disabled; the one tiny script only opens a message's ``<details>``
when its arrow is clicked and applies the index's filter.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from callgen.reports.attempts import flaky_html
from callgen.reports.charts import load_charts
from callgen.reports.digits import marked_seen
from callgen.reports.media import (
    Recording,
    assumption_notes,
    mos_html,
    ordered_streams,
    ptime_ms,
    receiver_pesq,
    recordings,
    recordings_rows,
    strip_expectation,
)
from callgen.reports.runfiles import RunFiles, findings_rows, run_files
from callgen.reports.svg import Span, esc, ladder_svg, message_id, timeline_svg
from callgen.reports.text import added_reason
from callgen.verdict.findings import DtmfFinding, Findings, Percentiles, StreamFinding
from callgen.verdict.ladder import CallFlow, FlowMessage
from callgen.verdict.result import CheckResult, ScenarioResult, Verdict

CSS = """body{font-family:system-ui,sans-serif;margin:1.2em 2em;color:#222;max-width:1400px}
h1{margin:.2em 0}h2{margin:.2em 0;font-size:1.3em}h3{font-size:1.05em;margin:1em 0 .3em}
table{border-collapse:collapse;margin:.4em 0}
td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left;vertical-align:top;overflow-wrap:break-word}
th{background:#f2f2f2;white-space:nowrap}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.media{font-size:.92em}table.media td{white-space:nowrap;overflow-wrap:normal}table.media tr.tl td{border-top:none;padding-left:2em}
table.index td:last-child{white-space:nowrap}
.badge{display:inline-block;padding:.05em .5em;border-radius:.3em;color:#fff;font-size:.8em;vertical-align:middle}
.v-pass,.badge.pass{background:#1a7f37;fill:#1a7f37}.v-fail,.badge.fail{background:#c62828;fill:#c62828}
.v-error,.badge.error{background:#a15c00;fill:#a15c00}.v-flaky,.badge.flaky{background:#7d5bbf;fill:#7d5bbf}
td.pass{color:#1a7f37;font-weight:bold}td.fail{color:#c62828;font-weight:bold}
section.scenario{border-top:2px solid #ddd;margin-top:1.5em;padding-top:.5em}
.failed{border:2px solid #c62828;background:#fff5f5;padding:.4em .8em;margin:.6em 0;border-radius:.3em}.failed pre{max-height:16em}
.failed[data-kind=error]{border-color:#a15c00;background:#fff8ee}.failed[data-kind=flaky]{border-color:#7d5bbf;background:#f8f5ff}
.meta{color:#555;margin:.2em 0}.muted{color:#777}
pre{background:#f6f6f6;padding:.5em;white-space:pre-wrap;overflow-wrap:anywhere;max-height:30em;overflow:auto;margin:.3em 0}
details.msg{margin:.1em 0}details.msg>summary{cursor:pointer;font-family:monospace;font-size:.9em}
details.msg:target>summary{background:#fff3b0}
svg text{font-family:system-ui,sans-serif}svg.ladder{display:block;margin:.4em 0}
.lane rect{fill:#eef3fb;stroke:#7a8fb5}.lane .party{font-weight:bold;font-size:13px;text-anchor:middle}
.lane .addr{font-size:11px;fill:#555;text-anchor:middle}.life{stroke:#99a;stroke-dasharray:4 4}
.arrow line,.arrow path{stroke-width:1.6}.arrow .label{font-size:12px;text-anchor:middle}
.arrow .sdp{font-size:10.5px;font-style:italic;text-anchor:middle}.arrow .t{font-size:11px;fill:#555;font-family:monospace}
.arrow .hit{fill:transparent;stroke:none}.arrow:hover .hit{fill:#0000000d}
.kind-request line,.kind-request path{stroke:#1f4e9c}.kind-request polygon,.kind-request .label,.kind-request .sdp{fill:#1f4e9c}
.kind-1xx line,.kind-1xx path{stroke:#777}.kind-1xx polygon,.kind-1xx .label,.kind-1xx .sdp{fill:#666}
.kind-2xx line,.kind-2xx path{stroke:#1a7f37}.kind-2xx polygon,.kind-2xx .label,.kind-2xx .sdp{fill:#1a7f37}
.kind-3xx line,.kind-3xx path{stroke:#9a6700}.kind-3xx polygon,.kind-3xx .label,.kind-3xx .sdp{fill:#9a6700}
.kind-err line,.kind-err path{stroke:#c62828}.kind-err polygon,.kind-err .label,.kind-err .sdp{fill:#c62828}
.retrans line,.retrans path{stroke-dasharray:6 3}.retrans{opacity:.75}
svg.timeline{display:block}.timeline .axis{stroke:#999}
.timeline .expected line{stroke:#0b5d1e;stroke-width:1.5;stroke-dasharray:4 3}.timeline .expected text{fill:#0b5d1e}
table.media tr.rec audio{vertical-align:middle;height:2.2em}
.assumed sup{color:#a15c00}.timeline .tick,.timeline .note{font-size:10px;fill:#555}
.timeline .bin{fill:#4a7bd0}.timeline .span{fill:#9db8e8}.timeline .gap{fill:#c62828}
.dtmf-mark line{stroke:#7d5bbf;stroke-width:1.5}.dtmf-mark text{font-size:10px;fill:#7d5bbf;font-weight:bold}
.digits{display:flex;flex-wrap:wrap;gap:.4em;margin:.3em 0}
.digit{border:1px solid #7d5bbf;border-radius:.3em;padding:.1em .5em;text-align:center}
.digit .d{font-size:1.4em;display:block;color:#7d5bbf}.digit small{color:#555}
svg.run-summary text{font-size:12px}.run-summary .count{fill:#fff;text-anchor:middle;font-weight:bold}
.filter{margin:.6em 0}.filter label{margin-right:.8em}"""

SCRIPT = """(function(){
function openTarget(){var id=decodeURIComponent(location.hash.slice(1));var el=id&&document.getElementById(id);
if(el&&el.tagName==='DETAILS'){el.open=true;}}
window.addEventListener('hashchange',openTarget);openTarget();
var form=document.querySelector('form.filter');if(!form){return;}
var q=new URLSearchParams(location.search);
if(q.get('verdict')){var want=q.get('verdict').split(',');
form.querySelectorAll('input[name=verdict]').forEach(function(b){b.checked=want.indexOf(b.value)>=0;});}
if(q.get('tag')){form.querySelector('select[name=tag]').value=q.get('tag');}
function apply(){var vs=[];form.querySelectorAll('input[name=verdict]:checked').forEach(function(b){vs.push(b.value);});
var tag=form.querySelector('select[name=tag]').value;
document.querySelectorAll('[data-verdict]').forEach(function(el){
var tags=(el.getAttribute('data-tags')||'').split(' ');
var show=vs.indexOf(el.getAttribute('data-verdict'))>=0&&(!tag||tags.indexOf(tag)>=0);
el.style.display=show?'':'none';});}
form.addEventListener('change',apply);apply();})();"""

MEDIA_WORDS = ("rtp", "srtp", "dtmf", "audio", "keying", "media", "codec_rtp")


# --------------------------------------------------------------------------- media


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def media_owners(flow: CallFlow) -> dict[str, str]:
    """RTP address -> agent name, from the SDP each party sent (it receives there;
    pjsua sends from the same port)."""
    owners: dict[str, str] = {}
    for m in flow.messages:
        if m.sdp and m.sdp.addr and m.sdp.port:
            host = f"[{m.sdp.addr}]" if ":" in m.sdp.addr else m.sdp.addr
            owners.setdefault(f"{host}:{m.sdp.port}", flow.parties[m.src_party].label)
    return owners


def direction_text(stream: StreamFinding | DtmfFinding, owners: Mapping[str, str]) -> str:
    src, dst = stream.src or "?", stream.dst or "?"
    return f"{owners.get(src, src)} → {owners.get(dst, dst)}"


def security_parts(s: StreamFinding) -> tuple[str, str]:
    """("SRTP, decrypted", suite) / ("RTP (clear)", "") for a stream."""
    if not s.srtp:
        return "RTP (clear)", ""
    suite = str(s.crypto_suite or "")
    if s.decrypted:
        return "SRTP, decrypted", suite
    why = f": {s.decrypt_error}" if s.decrypt_error else ""
    return f"SRTP, not decrypted{why}", suite


def _security(s: StreamFinding) -> str:
    label, suite = security_parts(s)
    return esc(label) + (f'<br><small class="muted">{esc(suite)}</small>' if suite else "")


def loss_text(s: StreamFinding) -> str:
    lost, expected = _num(s.lost), _num(s.expected)
    if lost is None:
        return "?"
    pct = f" ({100 * lost / expected:.1f} %)" if expected else ""
    return f"{lost:g}{pct}"


def ms_text(value: Any) -> str:
    v = _num(value)
    return f"{v:.2f}" if v is not None else "?"


def _rel(value: Any, start: float) -> str:
    v = _num(value)
    return f"+{v - start:.2f} s" if v is not None else "?"


def _stream_dtmf(stream: StreamFinding, dtmf: Sequence[DtmfFinding]) -> list[DtmfFinding]:
    return [e for e in dtmf if e.ssrc is not None and e.ssrc == stream.ssrc]


def media_table(streams: Sequence[StreamFinding], owners: Mapping[str, str], span: Span,
                dtmf: Sequence[DtmfFinding], recs: Sequence[Recording] = ()) -> Iterable[str]:
    if not streams:
        yield '<p class="muted">no RTP stream of this call in the capture</p>'
        yield from ('<table class="media">', *recordings_rows(recs, 9), "</table>") if recs else ()
        return
    streams = ordered_streams(streams, owners)
    yield ('<table class="media"><tr><th>direction</th><th>codec</th><th>packets</th><th>loss</th>'
           "<th>jitter mean / max</th><th>MOS</th><th>PESQ</th><th>SRTP</th><th>from / to</th></tr>")
    for s in streams:
        expected, why = strip_expectation(s)
        scale = f"; dashed line: {expected:g} expected at a {ptime_ms(s):g} ms packet time" if expected else ""
        yield (f'<tr><td class="dir">{esc(direction_text(s, owners))}<br><small class="muted">{esc(s.src)} →<br>'
               f'{esc(s.dst)}<br>SSRC {esc(_or(s.ssrc_hex, _or(s.ssrc, "")))}</small></td>'
               f'<td>{esc(s.codec or "unknown")}</td><td class="num">{esc(_or(s.packets, "?"))}</td>'
               f'<td class="num">{esc(loss_text(s))}</td>'
               f'<td class="num">{ms_text(s.jitter_ms_mean)} / {ms_text(s.jitter_ms_max)} ms</td>'
               f'<td class="num mos">{mos_html(s)}</td><td class="num">{receiver_pesq(s, owners, recs)}</td><td>{_security(s)}</td>'
               f'<td>{_rel(s.first_time, span.start)} → {_rel(s.last_time, span.start)}</td></tr>'
               f'<tr class="tl"><td colspan="9"><small class="muted">packets per {_bin_text(s)}{esc(scale)}</small>'
               f'{timeline_svg(s, span, _stream_dtmf(s, dtmf), expected, why)}</td></tr>')
    yield from recordings_rows(recs, 9)
    yield "</table>"
    yield from assumption_notes(streams)


def _bin_text(stream: StreamFinding) -> str:
    bin_ms = _num(stream.timeline.bin_ms) if stream.timeline else None
    return f"{bin_ms:g} ms" if bin_ms else "time"


def dtmf_row(events: Sequence[DtmfFinding], owners: Mapping[str, str], start: float) -> Iterable[str]:
    if not events:
        return
    yield '<div class="dtmf"><h4>DTMF</h4><div class="digits">'
    for e in events:
        t = _num(e.start)
        yield (f'<div class="digit"><span class="d">{esc(e.digit)}</span>'
               f'<small>{f"+{t - start:.3f} s" if t is not None else "?"}<br>'
               f'{esc(e.method)}<br>{esc(direction_text(e, owners))}</small></div>')
    yield "</div></div>"


# --------------------------------------------------------------------------- calls


@dataclass(frozen=True)
class CallMedia:
    streams: tuple[StreamFinding, ...]
    dtmf: tuple[DtmfFinding, ...]
    span: Span
    owners: Mapping[str, str]


def _or(value: Any, default: Any) -> Any:
    return default if value is None else value


def _dtmf(summary: Findings) -> list[DtmfFinding]:
    return [e for e in summary.dtmf if "digit" in e.keys]


def call_media(flow: CallFlow, summary: Findings) -> CallMedia:
    ids = set(flow.call_ids)  # through a topology-hiding SUT each leg has its own
    streams = tuple(s for s in summary.rtp_streams if s.call_id in ids)
    ssrcs = {s.ssrc for s in streams}
    dtmf = tuple(e for e in _dtmf(summary) if e.call_id in ids or (e.ssrc in ssrcs and e.ssrc is not None))
    times = [m.time for m in flow.messages] + [t for s in streams for t in (_num(s.last_time),) if t is not None]
    return CallMedia(streams, dtmf, Span(flow.start, max(times, default=flow.start)), media_owners(flow))


def _message_details(flow: CallFlow, anchor: str, i: int, m: FlowMessage, *, open_: bool = False) -> str:
    who = f"{flow.parties[m.src_party].label} → {flow.parties[m.dst_party].label}"
    extra = (" · retransmission" if m.retransmission else "") + (f" · SDP {m.sdp.label}" if m.sdp else "")
    cut_note = "\n[… cut: message text is capped in the report]" if m.truncated else ""
    text = m.text or "(text not kept: the report's size cap was reached)"
    return (f'<details class="msg" id="{esc(message_id(anchor, flow, i))}"{" open" if open_ else ""}><summary>'
            f"+{m.time - flow.start:.3f} {esc(who)} {esc(m.label)}{esc(extra)} · from the {esc(m.source)}</summary>"
            f"<pre>{esc(text + cut_note)}</pre></details>")


def call_html(flow: CallFlow, summary: Findings, anchor: str, checks: Sequence[CheckResult] = (),
              files: Any = None) -> Iterable[str]:
    callee = flow.callee or "?"
    yield f'<div class="call"><h3>{esc(flow.call)}: {esc(flow.caller)} → {esc(callee)}</h3>'
    from_log = sum(1 for m in flow.messages if m.source != "capture")
    where = ("from the capture" if not from_log else "from the pjsua logs (the capture holds them encrypted: TLS)"
             if from_log == len(flow.messages) else f"{from_log} of them from the pjsua logs")
    ids = (f"Call-ID <code>{esc(flow.call_id)}</code>" if not flow.legs else
           "; ".join(f"{esc(agent)}'s leg Call-ID <code>{esc(cid)}</code>" for agent, cid in flow.legs))
    yield (f'<p class="meta">{ids}; {len(flow.messages)} SIP messages {esc(where)}; '
           "hover an arrow for the message, click it for the full text</p>")
    yield ladder_svg(flow, anchor)
    yield '<details class="messages"><summary>all SIP messages as text</summary>'
    yield from (_message_details(flow, anchor, i, m) for i, m in enumerate(flow.messages))
    yield "</details>"
    media = call_media(flow, summary)
    yield "<h4>Media</h4>"
    recs = recordings(flow.call, [flow.caller, flow.callee or ""], checks, files)
    yield from media_table(media.streams, media.owners, media.span, media.dtmf, recs)
    yield from dtmf_row(media.dtmf, media.owners, media.span.start)
    yield "</div>"


def register_html(flow: CallFlow, anchor: str) -> Iterable[str]:
    """An agent's REGISTER transactions (challenge, retry, answer; unregister at the end) as a ladder."""
    yield (f'<div class="call register"><h3>{esc(flow.call)}: {esc(flow.caller)} → {esc(flow.callee)}</h3>'
           f'<p class="meta">Call-ID <code>{esc(flow.call_id)}</code>; {len(flow.messages)} SIP messages</p>')
    yield ladder_svg(flow, anchor)
    yield '<details class="messages"><summary>the REGISTER messages as text</summary>'
    yield from (_message_details(flow, anchor, i, m) for i, m in enumerate(flow.messages))
    yield "</details></div>"


# --------------------------------------------------------------------------- failure first


def _check_call(check: CheckResult, flows: Sequence[CallFlow]) -> tuple[CallFlow | None, str]:
    m = re.match(r"(call\d+)\.([A-Za-z_]+)", check.name)
    if not m:
        return None, ""
    return next((f for f in flows if f.call == m.group(1)), None), m.group(2)


def _final(m: FlowMessage) -> bool:
    return m.status is not None and m.status >= 200 and m.cseq_method == "INVITE"


def _of(method: str) -> Callable[[FlowMessage], bool]:
    return lambda m: m.method == method or m.cseq_method == method


#: SIP check (the part after ``callN.``, see checks.sip_checks) -> the messages it looked at
SIP_EVIDENCE: Mapping[str, Callable[[FlowMessage], bool]] = {
    "invite": lambda m: m.method == "INVITE",
    "final_code": _final,
    "answered": _final,
    "codec": _final,
    "pjsua_agrees": _final,
    "setup_time": lambda m: m.method == "INVITE" or _final(m),
    "ack": lambda m: m.method == "ACK" or _final(m),
    "bye": lambda m: m.method == "BYE",
    "bye_answered": _of("BYE"),
    "duration": lambda m: m.method == "BYE" or _final(m),
    "cancel": lambda m: _of("CANCEL")(m) or _final(m),
    "hold": lambda m: m.method == "INVITE" and m.sdp is not None,
    "unhold": lambda m: m.method == "INVITE" and m.sdp is not None,
}
EVIDENCE_MESSAGES = 4  #: messages shown per failed check


def deciding_messages(flow: CallFlow, what: str) -> list[int]:
    """Indexes of the (first, not retransmitted) messages a SIP check looked at."""
    test = SIP_EVIDENCE.get(what)
    if test is None:
        return []
    found = [i for i, m in enumerate(flow.messages) if test(m) and not m.retransmission]
    return found[:1] if what == "invite" else found[:EVIDENCE_MESSAGES]


#: what pjsua prints about calls, DTMF and registration in its transcript
PJSUA_EVENT = re.compile(r"Call \d+ state changed to|Incoming DTMF|dialing DTMF|registration", re.I)
LOG_LINES = 12  #: per agent
LOG_TAIL = 2 << 20  #: bytes of a transcript read (its end)


def pjsua_log_lines(run_dir: Path) -> list[tuple[str, list[str]]]:
    """(transcript name, its last call/DTMF/registration lines) per pjsua agent."""
    out = []
    for f in sorted(run_dir.glob("*.transcript.txt")):
        try:
            with f.open("rb") as fh:
                fh.seek(max(0, f.stat().st_size - LOG_TAIL))
                text = fh.read().decode("utf-8", "replace")
        except OSError:
            continue
        lines = [ln.strip() for ln in text.splitlines() if PJSUA_EVENT.search(ln)]
        if lines:
            out.append((f.name, lines[-LOG_LINES:]))
    return out


def _log_evidence(check: CheckResult, result: ScenarioResult) -> Iterable[str]:
    yield f"<p>pjsua reported: <code>{esc(check.seen)}</code></p>"
    run_dir = Path(result.artefacts) if result.artefacts else None
    if run_dir is None or not run_dir.is_dir():
        yield '<p class="muted">the agents\' logs are gone with the run folder</p>'
        return
    for name, lines in pjsua_log_lines(run_dir):
        yield f"<p>from <code>{esc(name)}</code>:</p><pre>{esc(chr(10).join(lines))}</pre>"


def _evidence(check: CheckResult, result: ScenarioResult, anchor: str) -> Iterable[str]:
    flow, what = _check_call(check, result.flows)
    where = check.evidence or "not said"
    yield f"<h4>{esc(check.name)} <span class=\"muted\">evidence: {esc(where)}</span></h4>"
    if "pjsua" in where or "log" in where:
        yield from _log_evidence(check, result)
    if flow is None:
        return
    if any(w in what for w in MEDIA_WORDS):
        media = call_media(flow, result.summary)
        yield from media_table(media.streams, media.owners, media.span, media.dtmf)
        yield from dtmf_row(media.dtmf, media.owners, media.span.start)
        return
    for i in deciding_messages(flow, what):
        yield _message_details(flow, f"{anchor}-ev", i, flow.messages[i], open_=True)


def failure_html(result: ScenarioResult, anchor: str) -> Iterable[str]:
    failed = result.failed_checks
    if not failed and not result.error:
        return
    kind = "error" if result.verdict is Verdict.ERROR else "fail"
    yield f'<div class="failed" data-kind="{kind}"><h3>What failed</h3>'
    if result.error:
        yield f"<p class=\"error-line\">error: {esc(result.error)}</p>"
    if failed:
        yield '<table class="failed-checks"><tr><th>check</th><th>expected</th><th>seen</th><th>why</th><th>evidence</th></tr>'
        for c in failed:
            seen, note = marked_seen(c) or (esc(c.seen), "")
            why = "; ".join(esc(t) for t in (note, added_reason(c)) if t)
            yield (f"<tr><td>{esc(c.name)}</td><td>{esc(c.expected)}</td><td>{seen}</td>"
                   f"<td>{why}</td><td>{esc(c.evidence or '-')}</td></tr>")
        yield "</table>"
        for c in failed:
            yield from _evidence(c, result, anchor)
    yield "</div>"


# --------------------------------------------------------------------------- the section


def check_name_html(name: str) -> str:
    """A check name that may wrap after its dots and before a bracket, never inside a word
    (``overflow-wrap:anywhere`` made "no_plain_r tp")."""
    return esc(name).replace(".", ".<wbr>").replace("[", "<wbr>[")


def checks_table(checks: Sequence[CheckResult]) -> Iterable[str]:
    if not checks:
        return
    yield ('<h3>All checks</h3><table class="checks"><tr><th>check</th><th>verdict</th><th>expected</th>'
           "<th>seen</th><th>reason</th><th>evidence</th></tr>")
    for c in checks:
        cls = "pass" if c.passed else "fail"
        yield (f'<tr><td>{check_name_html(c.name)}</td><td class="{cls}">{"PASS" if c.passed else "FAIL"}</td><td>{esc(c.expected)}</td>'
               f"<td>{esc(c.seen)}</td><td>{esc(c.reason)}</td><td>{esc(c.evidence or '-')}</td></tr>")
    yield "</table>"


def _other_media(result: ScenarioResult) -> Iterable[str]:
    """Streams and digits no call's flow claims (old results without flows, stray RTP)."""
    ids = {cid for f in result.flows for cid in f.call_ids}
    streams = [s for s in result.summary.rtp_streams if s.call_id not in ids]
    yield from foreign_media([s for s in streams if not s.call_id])
    streams = [s for s in streams if s.call_id]
    dtmf = [e for e in _dtmf(result.summary) if e.call_id not in ids]
    if not streams and not dtmf:
        return
    times = [t for s in streams for t in (_num(s.first_time), _num(s.last_time)) if t is not None]
    times += [t for e in dtmf for t in (_num(e.start),) if t is not None]
    span = Span(min(times, default=0.0), max(times, default=0.0))
    yield "<h3>Media not tied to a call</h3>" if result.flows else "<h3>Media</h3>"
    if streams:
        yield from media_table(streams, {}, span, dtmf)
    yield from dtmf_row(dtmf, {}, span.start)


def foreign_media(streams: Sequence[StreamFinding]) -> Iterable[str]:
    """RTP in the capture that no SDP of this run offered: another process's traffic on
    these ports (a test suite beside us), never shown as this scenario's media."""
    if not streams:
        return
    times = [t for s in streams for t in (_num(s.first_time), _num(s.last_time)) if t is not None]
    yield ('<div class="foreign"><h3>RTP no call of this run offered</h3><p class="muted">The capture holds these '
           "streams, but no SDP of this run named their addresses, so they are not this scenario's media "
           "(most likely another program's traffic on these ports).</p>")
    yield from media_table(streams, {}, Span(min(times, default=0.0), max(times, default=0.0)), ())
    yield "</div>"


def pct_text(value: Any, none: str = "n/a") -> str:
    """A percentage to one decimal with its sign ("76.7%"), ``none`` when not measured."""
    number = _num(value)
    return f"{number:.1f}%" if number is not None else none


def load_html(result: ScenarioResult) -> Iterable[str]:
    """A load run at a glance: its figures, calls up and calls started per second, setup times."""
    load = result.summary.load
    if load is None:
        return
    setup = load.setup_ms or Percentiles()
    rows = [("calls attempted", load.attempted), ("answered (ASR)", f"{load.answered} ({pct_text(load.asr_pct)})"),
            ("proven from the capture", f"{load.proven} ({pct_text(load.proven_pct)})"),
            ("final codes", ", ".join(f"{k}: {v}" for k, v in (load.final_codes or {}).items())),
            ("setup ms p50 / p95 / p99 / max", " / ".join(str(v) for v in (setup.p50, setup.p95, setup.p99, setup.max))),
            ("calls up at once (max)", load.concurrency_max),
            ("calls started in one second (max)", max(load.cps_per_second or (0,))),
            ("DTMF proven", pct_text(load.dtmf_proven_pct, "no DTMF sent"))]
    legs = load.legs or {}  # through a system under test: each leg's own proof, and how the legs were joined
    rows[3:3] = [(f"proven on the {role}'s leg", f"{legs[role].get('proven')} ({pct_text(legs[role].get('proven_pct'))})")
                 for role in ("caller", "callee") if isinstance(legs.get(role), dict)]
    if isinstance(legs.get("joined_by"), dict):
        rows.insert(5, ("callee legs joined by", ", ".join(f"{k}: {v}" for k, v in legs["joined_by"].items())))
    yield "<h3>Load</h3><table class=\"load\">" + "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows) + "</table>"
    yield from load_charts(load)
    if load.unproven:
        yield "<h4>Unproven calls</h4><ul>" + "".join(
            f"<li>call {esc(u.index)}: {esc('; '.join(u.why))}</li>" for u in load.unproven) + "</ul>"


def _findings(result: ScenarioResult) -> Iterable[str]:
    s = result.summary
    rest = findings_rows(s.other())
    if rest:
        yield "<h3>Other findings</h3><table>" + "".join(f"<tr><th>{esc(k)}</th><td>{esc(d)}</td></tr>" for k, d in rest) + "</table>"
    warnings = [w for w in s.warnings if isinstance(w, str)]
    if "packets" in s.keys:
        yield f'<p class="meta">capture: {esc(s.packets)} packets'
        first, last = _num(s.first_time), _num(s.last_time)
        yield f" over {last - first:.2f} s</p>" if first is not None and last is not None else "</p>"
    if warnings:
        yield "<ul class=\"warnings\">" + "".join(f"<li>{esc(w)}</li>" for w in warnings) + "</ul>"
    attempts = s.failed_attempts if result.verdict is not Verdict.FLAKY else []  # FLAKY: shown first
    if attempts:
        yield "<h3>Earlier attempts</h3><table><tr><th>attempt</th><th>verdict</th><th>failed checks / error</th></tr>"
        for a in attempts:
            failed = "; ".join(f"{c.name}: expected {c.expected}, seen {c.seen}" for c in a.failed_checks) or a.error
            yield f"<tr><td>{esc(_or(a.attempt, '?'))}</td><td>{esc(a.verdict)}</td><td>{esc(failed)}</td></tr>"
        yield "</table>"


def files_html(files: Any) -> Iterable[str]:
    yield "<h3>Files</h3><ul class=\"files\">"
    for name, link in files.files:
        yield f'<li><a href="{esc(link)}">{esc(name)}</a></li>'
    if files.note:
        yield f"<li><em>{esc(files.note)}</em></li>"
    yield "</ul>"


def scenario_section(result: ScenarioResult, anchor: str, files: Any, page_link: str = "",
                     attempt_links: Mapping[int, str] | None = None) -> Iterable[str]:
    v = result.verdict.value
    tags = " ".join(result.tags)
    yield (f'<section class="scenario" id="{esc(anchor)}" data-verdict="{esc(v)}" data-tags="{esc(tags)}">'
           f'<h2>{esc(result.name)} <span class="badge {esc(v)}">{esc(v.upper())}</span></h2>')
    own = f'; <a href="{esc(page_link)}">page of this run</a>' if page_link else ""
    tag_text = f"; tags {esc(', '.join(result.tags))}" if result.tags else ""
    yield (f'<p class="meta">file <code>{esc(result.file)}</code>; {result.duration_s:.1f} s; '
           f"{result.attempts} attempt{'s' if result.attempts != 1 else ''}{tag_text}{own}</p>")
    yield from flaky_html(result, attempt_links or {})
    yield from failure_html(result, anchor)
    for flow in result.flows:
        yield from call_html(flow, result.summary, anchor, result.checks, files)
    for flow in result.summary.register_flows:
        yield from register_html(flow, anchor)
    if not result.flows and result.ladder:
        yield "<h3>SIP ladder</h3><pre>" + esc("\n".join(result.ladder)) + "</pre>"
    yield from load_html(result)
    yield from _other_media(result)
    yield from checks_table(result.checks)
    yield from _findings(result)
    yield from files_html(files)
    yield "</section>"


def html_document(title: str, body: Iterable[str]) -> str:
    head = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>'
            '<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<style>{CSS}</style></head><body>")
    return head + "\n".join(body) + f"\n<script>{SCRIPT}</script></body></html>\n"


def render_run_page(result: ScenarioResult, run_dir: Path | None, index_link: str = "",
                    attempt_links: Mapping[int, str] | None = None) -> str:
    """The page of one run folder; file links (and ``attempt_links``, a flaky
    scenario's failed attempts' pages) are relative to ``run_dir``."""
    files = run_files(result, run_dir) if run_dir is not None else RunFiles("", (), "")
    body = [f'<p class="meta"><a href="{esc(index_link)}">run index</a></p>' if index_link else ""]
    body += list(scenario_section(result, "s0", files, attempt_links=attempt_links))
    return html_document(f"callgen: {result.name} {result.verdict.value.upper()}", body)
