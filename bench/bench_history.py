"""The history store at a year's size: 366 nights x 200 scenarios recorded into a fresh
SQLite file (one transaction per night, retention on), read back, and the page of the
last 60 nights built.  Usage: python bench/bench_history.py [STORE]"""

from __future__ import annotations

import copy
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from callgen.history.page import render_page
from callgen.history.record import record_report
from callgen.history.store import open_store
from callgen.history.trends import build_history

ROOT = Path(__file__).resolve().parent.parent
NIGHTS, SCENARIOS, SHOWN = 366, 200, 60


def main() -> None:
    store = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="callgen-hbench-")) / "h.sqlite"
    good = json.loads((ROOT / "tests" / "data" / "reports" / "pass_run.json").read_text())
    results = []
    for i in range(SCENARIOS):
        d = copy.deepcopy(good)
        d["name"], d["file"] = f"s{i:03d}", f"lib/s{i:03d}.yaml"
        results.append(d)
    t0 = time.perf_counter()
    with open_store(store) as st:
        for n in range(NIGHTS):
            report = {"started": f"2025-01-01T02:{n // 60:02d}:{n % 60:02d}+00:00", "results": results}
            record_report(st, report, source="bench", night=f"n{n:03d}", keep_nights=NIGHTS, revision_of=lambda f: "")
    t1 = time.perf_counter()
    with open_store(store) as st:
        rows = st.results()
    t2 = time.perf_counter()
    page = render_page(build_history(rows, last=SHOWN))
    t3 = time.perf_counter()
    print(f"record {NIGHTS} nights x {SCENARIOS} scenarios: {t1 - t0:.1f} s ({(t1 - t0) / NIGHTS * 1000:.0f} ms per night); "
          f"read {len(rows)} rows: {t2 - t1:.1f} s; page of the last {SHOWN} nights: {t3 - t2:.1f} s, "
          f"{len(page) / 1e6:.1f} MB; store {os.path.getsize(store) / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
