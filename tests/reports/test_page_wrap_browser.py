"""Check names wrap at their dots, never inside a word ("no_plain_r tp"), in a narrow window;
measured in headless Chromium from the rendered characters' line positions."""

from __future__ import annotations

import json
import re
from pathlib import Path

from callgen.reports.page import render_run_page
from callgen.verdict.result import ScenarioResult
from tests.reports.test_report_browser import browse

DATA = Path(__file__).resolve().parents[1] / "data" / "reports"

MEASURE = """<script>
(() => {
  const bad = [];
  for (const td of document.querySelectorAll('table.checks td:first-child')) {
    const walker = document.createTreeWalker(td, NodeFilter.SHOW_TEXT);
    const chars = [];
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      for (let i = 0; i < n.textContent.length; i++) {
        const r = document.createRange(); r.setStart(n, i); r.setEnd(n, i + 1);
        const rect = r.getClientRects()[0];
        if (rect) chars.push([n.textContent[i], Math.round(rect.top)]);
      }
    }
    for (let i = 1; i < chars.length; i++) {
      if (chars[i][1] > chars[i - 1][1] + 2 && /\\w/.test(chars[i][0]) && /\\w/.test(chars[i - 1][0])) {
        bad.push(chars.slice(0, i).map(c => c[0]).join('') + '|' + chars.slice(i).map(c => c[0]).join(''));
      }
    }
  }
  document.body.setAttribute('data-midword', JSON.stringify(bad));
  document.body.setAttribute('data-cells', String(document.querySelectorAll('table.checks td:first-child').length));
})();
</script>"""


def test_check_names_do_not_break_mid_word(tmp_path):
    result = ScenarioResult.from_dict(json.loads((DATA / "tls_run.json").read_text()))
    page = tmp_path / "page.html"
    page.write_text(render_run_page(result, None).replace("</body>", MEASURE + "</body>"))
    dom, _ = browse(page.as_uri(), tmp_path / "profile", "--window-size=520,900")
    cells = int(re.search(r'data-cells="(\d+)"', dom).group(1))
    midword = json.loads(re.search(r"data-midword=\"([^\"]*)\"", dom).group(1).replace("&quot;", '"'))
    assert cells == len(result.checks)
    assert midword == []
