"""Systems under test that callgen starts for one run (``targets: {X: {local: ...}}``).

They live in the run folder (config, log), listen on loopback, and are
stopped when the run ends, whatever happens.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

from callgen.scenario.model import Scenario


@contextlib.contextmanager
def local_systems(scenario: Scenario, run_dir: Path) -> Iterator[dict[str, tuple[str, int]]]:
    """Start every local target; yield name -> (address, port)."""
    from callgen.sut.kamailio import start_kamailio

    started = []
    out: dict[str, tuple[str, int]] = {}
    try:
        for t in scenario.local_targets:
            if t.kind != "kamailio":  # the schema allows nothing else
                raise ValueError(t.kind)
            kam = start_kamailio(run_dir / f"{t.name.lower()}-kamailio", port=t.port,
                                 password=t.password.reveal() or None)
            started.append(kam)
            out[t.name] = (kam.address, kam.port)
        yield out
    finally:
        for kam in reversed(started):
            kam.stop()
