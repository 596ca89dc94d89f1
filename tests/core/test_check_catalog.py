"""The check seam: every check id the verdict emits has an entry in the catalog
(callgen/verdict/catalog.py), and docs/checks.md is the catalog's current rendering.

Emitted ids come from three places: the verdict's rules run on hand-built evidence (as
tests/core/test_checks.py feeds them), the results of real runs kept in tests/data/reports,
and the id templates written in the rules' source (so a new rule's ids are caught even
before a test exercises it)."""

from __future__ import annotations

import ast
import importlib.util
import json
import math
import re
import struct
import wave
from pathlib import Path

import pytest

from callgen.analysis import CaptureAnalysis, Dialog, RtpStream, Sdp, SdpMedia, SipMessage
from callgen.run.capture import CaptureStats
from callgen.run.evidence import AgentEvidence, Evidence, StepKind, StepOutcome
from callgen.scenario.loader import load_scenario
from callgen.verdict import catalog
from callgen.verdict.checks import evaluate, media_checks, run_health, sip_checks, step_checks

ROOT = Path(__file__).resolve().parents[2]
ALICE, BOB = "127.0.0.1:20000", "127.0.0.1:20002"


def _gen():
    spec = importlib.util.spec_from_file_location("checks_reference", ROOT / "scripts" / "checks_reference.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_checks_page_is_current():
    gen = _gen()
    assert gen.PAGE == ROOT / "docs" / "checks.md"
    assert gen.reference() in gen.PAGE.read_text(), "run 'make reference' (scripts/checks_reference.py)"


def test_every_catalog_entry_is_on_the_page_once():
    ref = _gen().reference()
    for spec in catalog.CATALOG:
        assert ref.count(f"\n| `{spec.id}`" + (" (n)" if spec.numbered else "") + " |") == 1, spec.id


def test_catalog_ids_are_unique_and_complete():
    ids = [s.id for s in catalog.CATALOG]
    assert len(ids) == len(set(ids))
    for s in catalog.CATALOG:
        s.pattern()  # every placeholder is known
        assert s.decides and s.evidence and s.legs and s.rule and s.section, s.id


# --------------------------------------------------------------------------- emitted ids

def _msg(t, src, dst, *, method=None, status=None, cseq=1, cseq_method="INVITE", sdp=None):
    return SipMessage(t, src, dst, "udp", method, status, "", cseq_method if method is None else method, "c1", (), b"", sdp, cseq)


def _sdp(port: int, direction="sendrecv", proto="RTP/AVP", crypto=()):
    rtpmap = {8: ("PCMA", 8000), 120: ("telephone-event", 8000)}
    return Sdp((SdpMedia("audio", "127.0.0.1", port, proto, (8, 120), rtpmap, (120,), direction, crypto),))


def _stream(src, dst):
    return RtpStream(src, dst, 1234, (8,), "PCMA/8000", 8000, 100, 100, 0, 0, 0, 0.1, 0.5, 20.0,
                     0.0, 2.0, False, False, False, None, 0, None, 4.0, "c1", True)


def _evidence(tmp_path, steps=(), died=False) -> Evidence:
    agents = tuple(AgentEvidence(n, port, "127.0.0.1", tmp_path / f"{n}.log", tmp_path / "t", tmp_path / "c", (),
                                 -9 if died else 0, "pjsua", died)
                   for n, port in (("alice", 20000), ("bob", 20002)))
    return Evidence(tmp_path, tmp_path / "capture.pcap", CaptureStats(10, 0, "", "tcpdump"), agents, tuple(steps), 0.0, 1.0)


def _tone(path: Path, seconds=1.5, hz=1000.0, rate=8000) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(rate)
        w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * hz * i / rate))) for i in range(int(seconds * rate))))


SCENARIO = """name: every_rule
agents:
  alice: {role: caller, srtp: {use: mandatory}, audio: {record: true}}
  bob: {role: callee, srtp: {use: mandatory}, audio: {record: true}}
calls:
  - from: alice
    to: bob
    steps: [{wait: confirmed}, {hold: alice}, {unhold: alice}, {dtmf: "1"}, {pause: 1}, {hangup: alice}]
    expect:
      final_code: 200
      answered: true
      setup_ms_max: 500
      duration_s: {max: 60}
      codec: PCMA
      srtp: true
      rtp: {min_packets: 1, max_loss_pct: 1, max_jitter_ms: 30, mos_min: 3}
      dtmf: {digits: "1"}
      audio: [{receiver: bob, tone_hz: 1000}, {receiver: alice}]
  - from: alice
    to: bob
    steps: [{wait: early}, {hangup: alice}]
    expect: {final_code: 487}
"""


def emitted_by_the_rules(tmp_path: Path) -> set[str]:
    """Run the verdict's rules on hand-built evidence that makes most of them speak."""
    f = tmp_path / "s.yaml"
    f.write_text(SCENARIO)
    sc = load_scenario(f)
    _tone(tmp_path / "bob.rec.wav")
    answered = [_msg(0.0, ALICE, BOB, method="INVITE", sdp=_sdp(20040)), _msg(0.1, BOB, ALICE, status=200, sdp=_sdp(20060)),
                _msg(0.2, ALICE, BOB, method="ACK"), _msg(1.0, ALICE, BOB, method="INVITE", cseq=2, sdp=_sdp(20040, "sendonly")),
                _msg(2.0, ALICE, BOB, method="INVITE", cseq=3, sdp=_sdp(20040)),
                _msg(3.0, ALICE, BOB, method="BYE", cseq=9), _msg(3.1, BOB, ALICE, status=200, cseq=9, cseq_method="BYE")]
    d1 = Dialog("c1", tuple(answered), 200, answered[0].sdp, answered[1].sdp)
    cancelled = [_msg(0.0, ALICE, BOB, method="INVITE", sdp=_sdp(20040)), _msg(0.1, BOB, ALICE, status=180),
                 _msg(0.5, ALICE, BOB, method="CANCEL"), _msg(0.6, BOB, ALICE, status=200, cseq_method="CANCEL"),
                 _msg(0.7, BOB, ALICE, status=487)]
    d2 = Dialog("c2", tuple(cancelled), 487, cancelled[0].sdp, None)
    streams = (_stream("127.0.0.1:20040", "127.0.0.1:20060"), _stream("127.0.0.1:20060", "127.0.0.1:20040"))
    analysis = CaptureAnalysis((d1, d2), streams, (), 10, 0.0, 4.0)
    steps = [StepOutcome(kind, "act", False, "detail", 0.5, call=0, step=1, agent="bob") for kind in StepKind]
    ev = _evidence(tmp_path, steps + steps, died=True)
    checks = sip_checks(sc, ev, sc.calls[0], d1) + sip_checks(sc, ev, sc.calls[1], d2)
    checks += media_checks(sc, ev, analysis, sc.calls[0], d1)
    checks += run_health(ev, analysis)[0] + step_checks(ev)
    checks += evaluate(sc, ev).checks  # no capture file: the run-level "capture" check
    return {c.name for c in checks}


def emitted_in_real_runs() -> set[str]:
    return {c["name"] for f in sorted((ROOT / "tests" / "data" / "reports").glob("*.json"))
            for c in json.loads(f.read_text()).get("checks", ())}


class _Templates(ast.NodeVisitor):
    """Check-id templates in a rule's source: the first argument of check(...) and of
    the *_check(...) helpers, when written as a string; each ``{...}`` becomes ``*``."""

    def __init__(self):
        self.found: list[tuple[int, str]] = []

    def visit_Call(self, node: ast.Call) -> None:
        name = getattr(node.func, "id", getattr(node.func, "attr", ""))
        if (name == "check" or name.endswith("_check")) and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                self.found.append((node.lineno, arg.value))
            elif isinstance(arg, ast.JoinedStr):
                self.found.append((node.lineno, "".join(v.value if isinstance(v, ast.Constant) else "*" for v in arg.values)))
        self.generic_visit(node)


def templates_in_source() -> list[tuple[str, str]]:
    out = []
    for f in sorted((ROOT / "callgen" / "verdict").glob("*.py")):
        v = _Templates()
        v.visit(ast.parse(f.read_text()))
        out += [(f"{f.relative_to(ROOT)}:{line}", t) for line, t in v.found if "." in t or t in ("capture",)]
    return out


def undescribed(ids: set[str]) -> list[str]:
    return sorted(i for i in ids if catalog.entry(i) is None)


def template_without_entry(templates: list[tuple[str, str]]) -> list[str]:
    """A template ``*.rtp[*].loss`` must match (as a glob) the id of some entry."""
    out = []
    for where, t in templates:
        glob = re.compile(".+".join(re.escape(part) for part in t.split("*")))
        if not any(glob.fullmatch(s.id) for s in catalog.CATALOG):
            out.append(f"{where}: {t}")
    return out


def test_the_rules_emit_only_catalogued_checks(tmp_path):
    ids = emitted_by_the_rules(tmp_path)
    assert len(ids) >= 40, sorted(ids)  # the exercise really reaches the rules
    assert undescribed(ids) == []


def test_real_runs_emitted_only_catalogued_checks():
    ids = emitted_in_real_runs()
    assert ids and undescribed(ids) == []


def test_every_id_template_in_the_rules_has_an_entry():
    templates = templates_in_source()
    assert len(templates) >= 40, templates
    assert template_without_entry(templates) == []


@pytest.mark.parametrize("gone", ["callN.hold", "callN.rtp[DIR].loss", "capture.complete", "callN.stepM", "callN.audio[A].tone"])
def test_a_check_without_an_entry_is_found(monkeypatch, tmp_path, gone):
    monkeypatch.setattr(catalog, "CATALOG", tuple(s for s in catalog.CATALOG if s.id != gone))
    assert undescribed(emitted_by_the_rules(tmp_path)), f"{gone} removed, yet every emitted id is described"


@pytest.mark.parametrize("gone", ["load.setup_ms.STAT", "register.A.capture", "callN.rtp[DIR].mos_reported", "callN.audio[A].pesq"])
def test_a_template_without_an_entry_is_found(monkeypatch, gone):
    monkeypatch.setattr(catalog, "CATALOG", tuple(s for s in catalog.CATALOG if s.id != gone))
    assert template_without_entry(templates_in_source())


def test_a_new_rule_with_an_undescribed_id_is_found():
    v = _Templates()
    v.visit(ast.parse('out.append(check(f"{p}.transfer.refer", ok, "a REFER", seen))'))
    assert template_without_entry([("new rule", t) for _, t in v.found]) == ["new rule: *.transfer.refer"]


def test_no_catalog_entry_describes_a_check_nothing_emits(tmp_path):
    """The reverse: an entry whose check is gone (no rule writes its id) is stale."""
    reached = {catalog.entry(i).id for i in emitted_by_the_rules(tmp_path)}
    globs = [re.compile(".+".join(re.escape(p) for p in t.split("*"))) for _, t in templates_in_source()]
    stale = [s.id for s in catalog.CATALOG if s.id not in reached and not any(g.fullmatch(s.id) for g in globs)]
    assert stale == []


def test_the_report_shows_deciding_messages_only_for_catalogued_checks():
    """reports/page.py keeps its own table keyed by check (the SIP messages a failed check
    looked at); a key there that is no check of the catalog is a leftover."""
    from callgen.reports.page import SIP_EVIDENCE

    assert [k for k in SIP_EVIDENCE if catalog.entry(f"call1.{k}") is None] == []
