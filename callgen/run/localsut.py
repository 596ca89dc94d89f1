"""Systems under test that callgen starts for one run (``targets: {X: {local: ...}}``).

They live in the run folder (config, log), listen on loopback, and are
stopped when the run ends, whatever happens.  One that ends before that (killed,
crashed, stopped by someone else) makes the run an infrastructure error naming it:
what its calls showed afterwards says nothing about the scenario.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Protocol

from callgen.scenario.model import SbcSwitches, Scenario


class _LocalSystem(Protocol):
    address: str
    port: int

    def start(self) -> object: ...

    def stop(self) -> object: ...

    def exit_problem(self) -> str: ...


class LocalSystems(Mapping[str, tuple[str, int]]):
    """The started systems: name -> (address, port), and ``problem()`` once one of them has ended."""

    def __init__(self) -> None:
        self._systems: dict[str, _LocalSystem] = {}

    def add(self, name: str, system: _LocalSystem) -> None:
        self._systems[name] = system

    def __getitem__(self, name: str) -> tuple[str, int]:
        system = self._systems[name]
        return system.address, system.port

    def __iter__(self) -> Iterator[str]:
        return iter(self._systems)

    def __len__(self) -> int:
        return len(self._systems)

    def problem(self) -> str:
        """``local sut <name>: kamailio exited ... before callgen stopped it (...)`` for every system that
        ended, "" while all run."""
        return "; ".join(f"local sut {name}: {why}" for name, s in self._systems.items() if (why := s.exit_problem()))


@contextlib.contextmanager
def local_systems(scenario: Scenario, run_dir: Path) -> Iterator[LocalSystems]:
    """Start every local target; yield them (name -> (address, port))."""
    from callgen.sut.kamailio import KamailioConfig, KamailioProcess
    from callgen.sut.rtpengine import MEDIA_PORTS, media_ports_for
    from callgen.sut.sbc import SbcOptions, SbcProcess

    started: list = []
    out = LocalSystems()
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
            out.add(t.name, system)
        yield out
    finally:
        for system in reversed(started):
            system.stop()
