"""The load's prover process, slowed: 1.5 s more for each capture file (run as ``-m`` by
``ProverProcess`` when a test sets ``ProverProcess.module`` to this module)."""

import sys
import time

from callgen.analysis.rolling import RollingScan
from callgen.verdict import loadprover

SLOW_S = 1.5
_feed = RollingScan.feed


def _slow(self, path):
    time.sleep(SLOW_S)  # the fault this test makes: a prover slower than the capture
    return _feed(self, path)


if __name__ == "__main__":
    RollingScan.feed = _slow
    sys.exit(loadprover._serve(int(sys.argv[1])))
