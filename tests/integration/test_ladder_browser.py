"""The SIP ladder of real runs as headless Chromium draws it (issue 25): callgen's own
Kamailio lane named after its target (not "(no agent)"), the REGISTER transactions
drawn, the Request-URI on the arrows and in the message text, every label inside its
lifelines (a long reason phrase is cut, not spilled), and over TLS the arrows say so."""

from __future__ import annotations

import json
import re
from html import unescape

import pytest

from tests.conftest import SCENARIOS
from tests.reports.test_report_browser import browse, console_errors

pytestmark = [pytest.mark.tool("pjsua", "tcpdump", "kamailio")]

MEASURE = """<script>
(() => {
  const out = [];
  document.querySelectorAll('svg.ladder').forEach((svg, n) => {
    const heads = [...svg.querySelectorAll('.lane .party')].map(t => t.textContent);
    svg.querySelectorAll('g.arrow').forEach(g => {
      const line = g.querySelector('line');
      const label = g.querySelector('text.label');
      if (!line) { return; }
      const x1 = Number(line.getAttribute('x1')), x2 = Number(line.getAttribute('x2'));
      const b = label.getBBox();
      out.push({ladder: n, heads: heads, text: label.textContent, left: b.x, right: b.x + b.width,
                from: Math.min(x1, x2), to: Math.max(x1, x2)});
    });
  });
  document.body.setAttribute('data-arrows', JSON.stringify(out));
})();
</script>"""


def _run(cli, tmp_path, scenario: str) -> tuple[dict, str, str]:
    out = tmp_path / "out"
    r = cli("run", str(SCENARIOS / scenario), "-o", str(out))
    assert r.status == 0, r.out + r.err
    folder = out / scenario.removesuffix(".yaml")
    page = folder / "report.html"
    page.write_text(page.read_text().replace("</body>", MEASURE + "</body>"))
    dom, log = browse(page.as_uri(), tmp_path / "profile")
    assert console_errors(log) == []
    return json.loads((folder / "result.json").read_text()), dom, page.read_text()


def _arrows(dom: str) -> list[dict]:
    return json.loads(unescape(re.search(r'data-arrows="([^"]*)"', dom).group(1)))


def test_ladder_names_the_sut_lane_draws_register_and_shows_the_request_uri(cli, tmp_path, pjsua_bin):
    result, dom, html = _run(cli, tmp_path, "register_and_call.yaml")
    flows = result["summary"]["call_flows"]
    kamailio = next(p for p in flows[0]["parties"] if p["name"] == "KAMAILIO")
    arrows = _arrows(dom)
    assert "(no agent)" not in dom
    call = [a for a in arrows if a["ladder"] == 0]
    assert call[0]["heads"] == ["alice", "KAMAILIO", "bob"]

    # the Request-URI: alice dials bob at the proxy, the proxy forwards to bob's contact
    invites = [a["text"] for a in call if a["text"].startswith("INVITE ")]
    assert invites[0] == f"INVITE sip:bob@{kamailio['address']}"
    assert re.fullmatch(r"INVITE sip:bob@127\.0\.0\.1:\d+;ob", invites[1])
    assert f"INVITE sip:bob@{kamailio['address']} SIP/2.0" in html  # the message text's start line
    assert "Request-URI not kept" not in html

    # REGISTER transactions drawn, one ladder per registering agent: challenged, then accepted
    regs = {f["call"]: f for f in result["summary"]["register_flows"]}
    assert set(regs) == {"register.alice", "register.bob"}
    for name, flow in regs.items():
        labels = [a["text"] for a in arrows if a["heads"] == [flow["caller"], "KAMAILIO"]]
        assert labels[:4] == [f"REGISTER sip:{kamailio['address']}", "401 Unauthorized (REGISTER)",
                              f"REGISTER sip:{kamailio['address']}", "200 OK (REGISTER)"], (name, labels)
        assert f"<h3>{name}: {flow['caller']} → sip:{kamailio['address']}</h3>" in html

    # every label between its arrow's lifelines: Kamailio's long 100 reason phrase is cut
    trying = next(a for a in call if a["text"].startswith("100 trying"))
    assert trying["text"].endswith("…")
    for a in arrows:
        assert a["from"] - 1 <= a["left"] and a["right"] <= a["to"] + 1, a


def test_over_tls_the_arrows_say_the_transport(cli, tmp_path, pjsua_bin):
    result, dom, _ = _run(cli, tmp_path, "srtp_tls.yaml")
    assert {m["transport"] for m in result["summary"]["call_flows"][0]["messages"]} == {"TLS"}
    labels = [a["text"] for a in _arrows(dom)]
    assert labels and all(t.endswith(" · TLS") for t in labels), labels
    assert labels[0].startswith("INVITE sip:bob@127.0.0.1:")  # cut to fit 2 lanes; the hover has it whole
    assert re.search(r"<title>[^<]*INVITE sip:bob@127\.0\.0\.1:\d+;transport=tls SIP/2\.0", dom)
