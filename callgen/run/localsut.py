"""Systems under test that callgen starts for one run (``targets: {X: {local: ...}}``).

They live in the run folder (config, log), listen on loopback, and are
stopped when the run ends, whatever happens.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from callgen.scenario.model import SbcSwitches, Scenario


@contextlib.contextmanager
def local_systems(scenario: Scenario, run_dir: Path) -> Iterator[dict[str, tuple[str, int]]]:
    """Start every local target; yield name -> (address, port)."""
    from callgen.sut.kamailio import KamailioConfig, KamailioProcess
    from callgen.sut.rtpengine import MEDIA_PORTS, media_ports_for
    from callgen.sut.sbc import SbcOptions, SbcProcess

    started: list = []
    out: dict[str, tuple[str, int]] = {}
    try:
        for t in scenario.local_targets:
            password = t.password.reveal() or None
            if t.kind == "sbc":
                sw = t.sbc or SbcSwitches()
                system = SbcProcess(run_dir / f"{t.name.lower()}-sbc",
                                    SbcOptions(sw.mask_callid, sw.srtp_to_rtp, sw.transcode, sw.block_media, sw.block_dtmf),
                                    port=t.port, password=password,  # a load's calls up at once are relayed at once
                                    media_ports=media_ports_for(scenario.load.max_concurrent) if scenario.load else MEDIA_PORTS)
            elif t.kind == "kamailio":
                system = KamailioProcess(KamailioConfig(run_dir / f"{t.name.lower()}-kamailio", port=t.port,
                                                        password=password, address=t.address))
            else:  # the schema allows nothing else
                raise ValueError(t.kind)
            started.append(system)  # before start: a half-started SBC is stopped too
            system.start()
            out[t.name] = (system.address, system.port)
        yield out
    finally:
        for system in reversed(started):
            system.stop()
