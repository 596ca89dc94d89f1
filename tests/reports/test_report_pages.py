"""The HTML reports a person looks at: SIP ladder (SVG), media at a glance,
failure first, run summary, one page per run folder; and the structured call
flow they are drawn from.  The pages of real runs (pass, fail, TLS) come from
result.json files recorded with the CLI (tests/data/reports)."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

from callgen.analysis.model import Crypto, Dialog, Sdp, SdpMedia, SipMessage
from callgen.reports import publish
from callgen.reports.index import render_html, render_markdown
from callgen.reports.jsonreport import write_json
from callgen.reports.merge import merge_reports
from callgen.reports.page import render_run_page
from callgen.suite.execute import SuiteResult
from callgen.verdict.findings import Findings
from callgen.verdict.ladder import MAX_MESSAGE_CHARS, AgentAddress, CallFlow, CallInfo, build_flow, build_flows
from callgen.verdict.result import CheckResult, ScenarioResult, Verdict

DATA = Path(__file__).parents[1] / "data" / "reports"
AGENTS = (AgentAddress("alice", "127.0.0.1", 5060), AgentAddress("bob", "127.0.0.1", 5062))
CALL = CallInfo("call1", "alice", "bob")
T0 = 1_700_000_000.0


def recorded(name: str) -> ScenarioResult:
    return ScenarioResult.from_dict(json.loads((DATA / f"{name}_run.json").read_text()))


def sdp(proto: str = "RTP/AVP", crypto: bool = False, port: int = 4000) -> Sdp:
    return Sdp((SdpMedia("audio", "127.0.0.1", port, proto, (8, 120), {8: ("PCMA", 8000), 120: ("telephone-event", 8000)},
                         (120,), "sendrecv", (Crypto(1, "AES_CM_128_HMAC_SHA1_80", "a2V5"),) if crypto else ()),))


def msg(t: float, src: str, dst: str, method: str | None = None, status: int | None = None, *, cseq: int = 1,
        cseq_method: str = "INVITE", body: Sdp | None = None, branch: str = "z9hG4bK1", transport: str = "udp",
        extra: tuple[tuple[str, str], ...] = (), raw_body: bytes = b"") -> SipMessage:
    headers = (("Via", f"SIP/2.0/UDP {src};branch={branch}"), ("From", "<sip:alice@127.0.0.1>;tag=a"),
               ("To", "<sip:bob@127.0.0.1>"), ("Call-ID", "cid-1"), ("CSeq", f"{cseq} {cseq_method}")) + extra
    reason = {100: "Trying", 180: "Ringing", 200: "OK", 486: "Busy Here"}.get(status or 0, "")
    return SipMessage(T0 + t, src, dst, transport, method, status, reason, cseq_method, "cid-1", headers,
                      raw_body or (b"v=0\r\n" if body else b""), body, cseq)


def udp_dialog() -> Dialog:
    a, b = "127.0.0.1:5060", "127.0.0.1:5062"
    msgs = (
        msg(0.000, a, b, "INVITE", body=sdp("RTP/SAVP", crypto=True)),
        msg(0.500, a, b, "INVITE", body=sdp("RTP/SAVP", crypto=True)),  # timer A fired
        msg(0.510, b, a, status=100),
        msg(0.520, b, a, status=180),
        msg(1.000, b, a, status=200, body=sdp("RTP/SAVP", crypto=True, port=4002)),
        msg(1.010, a, b, "ACK", branch="z9hG4bK2"),
        msg(3.000, a, b, "BYE", cseq=2, cseq_method="BYE", branch="z9hG4bK3"),
        msg(3.001, b, a, status=486, cseq=2, cseq_method="BYE", branch="z9hG4bK3"),
    )
    return Dialog("cid-1", msgs, 200, msgs[0].sdp, msgs[4].sdp)


# --------------------------------------------------------------------------- the flow


def test_flow_names_lanes_marks_retransmissions_and_sdp():
    flow = build_flow(CALL, udp_dialog(), AGENTS, [10**6])
    assert [(p.name, p.address) for p in flow.parties] == [("alice", "127.0.0.1:5060"), ("bob", "127.0.0.1:5062")]
    assert [m.retransmission for m in flow.messages] == [False, True, False, False, False, False, False, False]
    assert [(m.src_party, m.dst_party) for m in flow.messages][:3] == [(0, 1), (0, 1), (1, 0)]
    assert [m.sdp.role if m.sdp else None for m in flow.messages][:5] == ["offer", "offer", None, None, "answer"]
    assert flow.messages[0].sdp.label == "offer PCMA/8000 SAVP crypto"
    assert [m.kind for m in flow.messages] == ["request", "request", "1xx", "1xx", "2xx", "request", "request", "err"]
    assert flow.messages[4].text.startswith("SIP/2.0 200 OK\r\n") and "CSeq: 1 INVITE" in flow.messages[4].text
    assert flow.start == T0 and flow.messages[0].source == "capture"


def test_flow_text_is_capped_per_message_and_per_scenario():
    a, b = "127.0.0.1:5060", "127.0.0.1:5062"
    big = msg(0, a, b, "MESSAGE", cseq_method="MESSAGE", raw_body=b"x" * (3 * MAX_MESSAGE_CHARS))
    d = Dialog("cid-1", (big, replace(big, time=T0 + 1, cseq=2)), None, None, None)
    budget = [MAX_MESSAGE_CHARS + 100]
    flow = build_flow(CALL, d, AGENTS, budget)
    assert [len(m.text) for m in flow.messages] == [MAX_MESSAGE_CHARS, 100]
    assert all(m.truncated for m in flow.messages)
    assert build_flow(CALL, d, AGENTS, budget).messages[0].text == ""  # budget spent: summary only


def test_flow_over_tls_from_logs_has_one_lane_per_agent():
    """Over TLS the caller sends from an ephemeral port and pjsua's log names no
    peer for a response without Contact ("local"): still two lanes."""
    eph, bob_tls = "127.0.0.1:40123", "127.0.0.1:5063"
    msgs = (
        msg(0.0, eph, bob_tls, "INVITE", transport="log", body=sdp("RTP/SAVP", True)),
        msg(0.01, "local", eph, status=100, transport="log"),
        msg(0.02, bob_tls, eph, status=200, transport="log", body=sdp("RTP/SAVP", True)),
        msg(0.03, eph, bob_tls, "ACK", transport="log", branch="z9hG4bK2"),
    )
    flow = build_flow(CALL, Dialog("cid-1", msgs, 200, None, None), AGENTS, [10**6])
    assert [p.name for p in flow.parties] == ["alice", "bob"]
    assert [(m.src_party, m.dst_party) for m in flow.messages] == [(0, 1), (1, 0), (1, 0), (0, 1)]
    assert {m.source for m in flow.messages} == {"pjsua log"}


def _relayed_dialog() -> Dialog:
    """alice -> SBC -> bob over UDP, the SBC on bob's host (issue 19)."""
    a, sbc, b = "127.0.0.1:5060", "127.0.0.1:7000", "127.0.0.1:5062"
    msgs = (
        msg(0.000, a, sbc, "INVITE", body=sdp(port=4000)),
        msg(0.002, sbc, b, "INVITE", body=sdp(port=9000), branch="z9hG4bK9"),
        msg(0.003, b, sbc, status=200, body=sdp(port=4002), branch="z9hG4bK9"),
        msg(0.004, sbc, a, status=200, body=sdp(port=9002)),
    )
    return Dialog("cid-1", msgs, 200, msgs[0].sdp, msgs[3].sdp)


def test_a_udp_peer_between_the_agents_is_a_lane_of_its_own():
    """Over UDP nobody sends from an ephemeral port: an unnamed UDP peer that talks
    only to alice (on bob's host; the caller's leg of a call through an SBC that
    masks the Call-ID) is the SBC, not bob."""
    d = _relayed_dialog()
    caller_leg = Dialog("cid-1", (d.messages[0], d.messages[3]), 200, d.offer, d.answer)
    flow = build_flow(CALL, caller_leg, AGENTS, [10**6])
    assert [p.label for p in flow.parties] == ["alice", "bob", "127.0.0.1:7000"]
    assert [(m.src_party, m.dst_party) for m in flow.messages] == [(0, 2), (2, 0)]
    flow = build_flow(CALL, d, AGENTS, [10**6])
    assert [(m.src_party, m.dst_party) for m in flow.messages] == [(0, 2), (2, 1), (1, 2), (2, 0)]


def test_the_sut_lane_is_named_after_its_target_and_each_leg_keeps_its_call_id():
    info = CallInfo("call1", "alice", "bob", sut="SBC", sut_address="127.0.0.1:7000",
                    legs=(("alice", "cid-1"), ("bob", "cid-2")))
    flow = build_flow(info, _relayed_dialog(), AGENTS, [10**6])
    assert [p.label for p in flow.parties] == ["alice", "SBC", "bob"]  # the SUT drawn between the agents
    assert flow.call_ids == ("cid-1", "cid-2")
    back = CallFlow.from_dict(json.loads(json.dumps(flow.to_dict())))
    assert back.legs == (("alice", "cid-1"), ("bob", "cid-2")) and back.parties == flow.parties


def test_flows_survive_json_and_merge_reports(tmp_path):
    flows = build_flows([(CALL, udp_dialog()), (CallInfo("call2", "alice", "sip:x@127.0.0.1"), None)], AGENTS)
    r = ScenarioResult("s", "/l/s.yaml", Verdict.PASS, 1.0, summary=Findings.from_dict({"call_flows": flows, "rtp_streams": []}))
    assert len(r.flows) == 1 and isinstance(r.flows[0], CallFlow)
    back = ScenarioResult.from_dict(json.loads(json.dumps(r.to_dict())))
    assert back.flows == r.flows
    j = write_json(SuiteResult((r,), 1.0, 1), tmp_path / "a.json")
    merged = merge_reports([j], tmp_path / "all.json")
    again = ScenarioResult.from_dict(json.loads(merged.output.read_text())["results"][0])
    assert again.flows == r.flows and again.flows[0].messages[1].retransmission


def test_recorded_runs_carry_flows():
    tls = recorded("tls").flows[0]
    assert [p.name for p in tls.parties] == ["alice", "bob"]
    assert {m.source for m in tls.messages} == {"pjsua log"}
    assert [m.label for m in recorded("pass").flows[0].messages] == ["INVITE", "100 Trying", "200 OK", "ACK", "BYE", "200 OK"]


# --------------------------------------------------------------------------- pages


def parsed_tags(page: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """Every start tag as a browser's tokenizer sees it."""
    found: list[tuple[str, list[tuple[str, str | None]]]] = []

    class P(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, attrs))

    P().feed(page)
    return found


def _svg(page: str, cls: str) -> list[str]:
    return re.findall(rf'<g class="{cls}[^"]*"', page)


def test_ladder_is_svg_with_an_arrow_per_message_coloured_by_class():
    r = ScenarioResult("s", "/l/s.yaml", Verdict.PASS, 1.0,
                       summary=Findings.from_dict({"call_flows": build_flows([(CALL, udp_dialog())], AGENTS)}))
    page = render_run_page(r, None)
    assert '<svg class="ladder"' in page and "<pre>" not in page.split("ladder")[1][:200]
    arrows = _svg(page, "arrow")
    assert len(arrows) == 8
    assert sum("kind-err" in a for a in arrows) == 1 and sum("kind-2xx" in a for a in arrows) == 1
    assert sum("retrans" in a for a in arrows) == 1
    assert ">alice<" in page and ">127.0.0.1:5060<" in page and ">bob<" in page
    assert "+1.000" in page and "+3.001" in page  # time offsets from the call start
    assert "offer PCMA/8000 SAVP crypto" in page and "answer PCMA/8000 SAVP crypto" in page
    # hover (SVG <title>) and click-to-expand (<details> with the full message) work without JavaScript
    assert "<title>" in page and page.count('<details class="msg"') == 8
    assert 'href="#s0-call1-m4"' in page and 'id="s0-call1-m4"' in page


def test_media_table_has_real_columns_and_agent_directions():
    page = render_run_page(recorded("tls"), None)
    media = page[page.index('class="media"'):]
    for col in ("direction", "codec", "packets", "loss", "jitter mean / max", "MOS", "SRTP"):
        assert f">{col}<" in media
    assert "alice → bob" in media and "bob → alice" in media
    assert "decrypted" in media and "AES_256_CM_HMAC_SHA1_80" in media
    assert "first_time" not in page and "payload_types=" not in page  # no key=value dump
    dtmf = page[page.index('class="dtmf"'):]
    assert re.search(r">7<.*>3<", dtmf, re.S) and "rfc4733" in dtmf
    assert re.search(r"\+0\.\d{3} s", dtmf)  # times relative to the call start


def test_timeline_uses_bins_and_gaps_when_present_and_survives_without():
    r = recorded("pass")
    streams = [dict(s) for s in r.summary.to_dict()["rtp_streams"]]
    start = streams[0]["first_time"]
    streams[0]["timeline"] = {"bin_ms": 100, "start": start, "counts": [5, 5, 0, 4, 5]}
    streams[0]["gaps"] = [{"t": 0.25, "lost": 3}]
    streams[0]["mos"] = 4.31
    streams[1].pop("first_time")  # degraded input must not crash the page
    page = render_run_page(replace(r, summary=Findings.from_dict({**r.summary.to_dict(), "rtp_streams": streams})), None)
    tl = sorted(re.findall(r'<svg class="timeline".*?</svg>', page, re.S), key=lambda t: 'class="bin"' not in t)
    assert len(tl) == 2  # streams are drawn in a fixed order (by direction), not the summary's
    assert tl[0].count('class="bin"') == 5 and tl[0].count('class="gap"') == 1 and "3 lost" in tl[0]
    assert 'class="bin"' not in tl[1] and "103 packets; no times" in tl[1]
    plain = re.findall(r'<svg class="timeline".*?</svg>', render_run_page(r, None), re.S)[0]
    assert 'class="bin"' not in plain and plain.count('class="span"') == 1 and "103 packets" in plain
    assert "4.31" in page


def test_failed_scenario_leads_with_the_failed_check_and_its_evidence():
    page = render_run_page(recorded("fail"), None)
    first = page.index('class="failed"')
    assert first < page.index('<svg class="ladder"') and first < page.index('class="checks"')
    box = page[first:page.index('<svg class="ladder"')]
    assert "call1.final_code" in box and ">486<" in box and ">200<" in box
    assert "SIP/2.0 200 OK" in box and "from the capture" in box  # the packet that decided it
    assert "call1.ack" not in box  # passed checks come later


def test_index_lists_failures_first_filters_and_pictures_the_run(tmp_path):
    ok, bad, tls = recorded("pass"), recorded("fail"), recorded("tls")
    suite = SuiteResult((replace(ok, tags=("smoke",)), bad, tls), 12.0, 2, started="2026-01-01T00:00:00+00:00")
    page = render_html(suite, tmp_path)
    rows = re.findall(r'<tr class="row" data-verdict="(\w+)" data-tags="([^"]*)"', page)
    assert [v for v, _ in rows] == ["fail", "pass", "pass"]
    assert 'value="smoke"' in page and 'value="fail"' in page  # filter controls
    assert '<svg class="run-summary"' in page
    assert page.index('id="s0"') < page.index('id="s1"') and "basic_call_expect_busy" in page[page.index('id="s0"'):][:300]


def test_hostile_names_and_headers_are_escaped():
    evil = '<script>alert(1)</script>"\'><img src=x onerror=alert(2)>'
    d = udp_dialog()
    d = replace(d, messages=tuple(replace(m, headers=m.headers + (("X-Evil", evil + "A" * 5000),)) for m in d.messages))
    r = ScenarioResult(evil, evil, Verdict.FAIL, 1.0, (CheckResult(evil, False, evil, evil, evil, "capture"),),
                       tags=(evil,), error=evil,
                       summary=Findings.from_dict({"call_flows": build_flows([(CallInfo("call1", evil, evil), d)], AGENTS)}))
    for page in (render_run_page(r, None), render_html(SuiteResult((r,), 1.0, 1), Path("."))):
        tags = parsed_tags(page)
        assert "img" not in {t for t, _ in tags} and [t for t, _ in tags].count("script") == 1  # only the page's own
        assert not any(name.startswith("on") for _, attrs in tags for name, _ in attrs)
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    md = render_markdown(SuiteResult((r,), 1.0, 1), Path("."))
    assert "<script>" not in md and "\\<script\\>alert(1)" in md


def test_each_run_folder_gets_its_own_page_linked_from_the_index(tmp_path):
    run = tmp_path / "basic_call"
    run.mkdir()
    (run / "capture.pcap").write_bytes(b"\xd4\xc3\xb2\xa1")
    r = replace(recorded("pass"), artefacts=str(run))
    publish(SuiteResult((r,), 1.0, 1), tmp_path)
    own = (run / "report.html").read_text()
    assert '<svg class="ladder"' in own and 'href="capture.pcap"' in own and "<link" not in own
    assert 'href="basic_call/report.html"' in (tmp_path / "index.html").read_text()
    assert "| basic\\_call | PASS |" in (tmp_path / "summary.md").read_text()


def test_sdes_keys_are_not_copied_into_reports():
    """The analysis reports that a crypto line is there, never its key (model.Crypto.to_json);
    the message text in a flow keeps that promise."""
    a, b = "127.0.0.1:5060", "127.0.0.1:5062"
    key = "WVNfX19zZWNyZXRfa2V5X3NhbHRfMTIzNDU2Nzg5MA=="
    body = f"v=0\r\nm=audio 4000 RTP/SAVP 8\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{key}|2^20|1:32\r\n".encode()
    d = Dialog("cid-1", (msg(0, a, b, "INVITE", body=sdp("RTP/SAVP", True), raw_body=body),), None, None, None)
    text = build_flow(CALL, d, AGENTS, [10**6]).messages[0].text
    assert "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" in text and key not in text and "|2^20|1:32" in text


def test_summary_md_leads_with_failures_and_tabulates_media(tmp_path):
    suite = SuiteResult((recorded("pass"), recorded("tls"), recorded("fail")), 17.0, 2)
    md = render_markdown(suite, tmp_path)
    rows = [line.split(" | ")[1] for line in md.splitlines() if line.startswith("| basic") or line.startswith("| srtp")]
    assert rows == ["FAIL", "PASS", "PASS"]
    fail = md[md.index("## basic\\_call\\_expect\\_busy"):md.index("## basic\\_call - PASS")]
    assert fail.index("call1.final\\_code") < fail.index("SIP ladder")
    tls = md[md.index("## srtp\\_tls"):]
    assert "| alice → bob | PCMA/8000 | 70 | 0 (0.0 %) | 0.51 / 0.84 ms | SRTP, decrypted |" in tls
    assert "DTMF: 7 (+0.666 s, rfc4733), 3 (+0.906 s, rfc4733)" in tls
    assert "first\\_time" not in md and "payload\\_types=" not in md


def test_each_sip_check_shows_the_messages_it_looked_at():
    from callgen.reports.page import deciding_messages

    flow = build_flow(CALL, udp_dialog(), AGENTS, [10**6])
    labels = lambda what: [flow.messages[i].label for i in deciding_messages(flow, what)]  # noqa: E731
    assert labels("final_code") == ["200 OK"]
    assert labels("setup_time") == ["INVITE", "200 OK"]  # the retransmitted INVITE is left out
    assert labels("ack") == ["200 OK", "ACK"]
    assert labels("bye_answered") == ["BYE", "486 Busy Here"]
    assert labels("step3") == []


def test_a_failed_pjsua_check_shows_the_agents_log_lines(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "alice.transcript.txt").write_text(
        "03:23:47.708  sip_endpoint.c  .Module registered\n"
        "03:23:48.399  pjsua_app.c  .......Call 0 state changed to CALLING\n"
        "03:23:48.460  pjsua_app.c  .....Call 0 state changed to DISCONNCTD (486 Busy <Here>)\n")
    (run / "bob.transcript.txt").write_text("03:23:48.5 pjsua_app.c Incoming DTMF on call 0: 4, using RFC2833 method\n")
    bad = CheckResult("call1.step1", False, "wait confirmed", "call ended with 486 Busy Here", "", "pjsua")
    r = replace(recorded("fail"), checks=(bad,), artefacts=str(run))
    page = render_run_page(r, run)
    box = page[page.index('class="failed"'):page.index('<svg class="ladder"')]
    assert "alice.transcript.txt" in box and "Call 0 state changed to DISCONNCTD (486 Busy &lt;Here&gt;)" in box
    assert "Incoming DTMF on call 0: 4" in box and "Module registered" not in box
