"""A local Kamailio target: reports show the address it really listened on (issue #9
item 7), not the placeholder the scenario file was first validated with."""

from __future__ import annotations

import json
import re

from tests.conftest import SCENARIOS


def test_reports_show_the_local_kamailio_real_address(cli, tmp_path, pjsua_bin):
    r = cli("run", str(SCENARIOS / "register_and_call.yaml"), "-o", str(tmp_path))
    assert r.status == 0, r.out + r.err
    run = tmp_path / "register_and_call"
    port = re.search(r"^--registrar=sip:127\.0\.0\.1:(\d+)$", (run / "alice.cfg").read_text(), re.M)[1]
    result = json.loads((run / "result.json").read_text())
    assert result["ladder"][0].startswith(f"call1 alice -> sip:bob@127.0.0.1:{port} "), result["ladder"][0]
    for page in ("summary.md", "index.html"):
        text = (tmp_path / page).read_text()
        assert f"sip:bob@127.0.0.1:{port}" in text, page
        assert "127.0.0.1:5060" not in text, page
