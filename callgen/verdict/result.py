"""The verdict's core: a check (``CheckResult``, made by ``check()``), the ``Outcome`` of
judging one run, and the ``ScenarioResult`` the reports (text, JSON, JUnit) are made from.

Flow: analysis -> rules (``checks.py``, ``media.py``, ``load.py``; each check they
emit is described in ``catalog.py``) -> ``Outcome`` -> ``ScenarioResult`` -> reports.
Everything here is plain frozen data with a ``to_dict`` that gives the stable JSON form.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from callgen.verdict.findings import Findings
from callgen.verdict.ladder import CallFlow

if TYPE_CHECKING:
    from callgen.verdict.load import LoadCallRow


class Verdict(str, enum.Enum):
    PASS = "pass"  #: every check passed
    FAIL = "fail"  #: at least one check failed
    ERROR = "error"  #: the run could not complete (infrastructure, timeout, interrupted)
    FLAKY = "flaky"  #: failed first, passed on a retry (never reported as plain pass)


@dataclass(frozen=True)
class CheckResult:
    """One named check, e.g. ``call.answered`` or ``dtmf.received[bob]``."""

    name: str
    passed: bool
    expected: str  #: what the scenario asked for, human readable
    seen: str  #: what the evidence showed
    reason: str = ""  #: one line explaining a failure (or how it passed)
    evidence: str = ""  #: where it was seen: "capture", "pjsua log bob", ...

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "expected": self.expected,
            "seen": self.seen,
            "reason": self.reason,
            "evidence": self.evidence,
        }


Check = CheckResult  #: what every rule returns a list of


def check(name: str, ok: bool, expected: str, seen: str, reason: str = "", evidence: str = "capture") -> CheckResult:
    """One named check; ``name`` is an id of ``callgen.verdict.catalog``, ``evidence`` the source really read."""
    return CheckResult(name=name, passed=ok, expected=expected, seen=seen, reason=reason if not ok else "", evidence=evidence)


@dataclass(frozen=True)
class Outcome:
    """What judging one run gave: its checks, the SIP ladder, the findings."""

    checks: tuple[CheckResult, ...]
    ladder: tuple[str, ...] = ()
    summary: Findings = field(default_factory=Findings)
    #: why the run cannot prove anything (a capture that died or dropped packets,
    #: an agent that died): the run is an infrastructure error, whatever the checks say
    infrastructure: tuple[str, ...] = ()
    load_rows: tuple[LoadCallRow, ...] = ()  #: a load run's per-call rows


@dataclass(frozen=True)
class ScenarioResult:
    """Outcome of one run of one scenario file."""

    name: str
    file: str
    verdict: Verdict
    duration_s: float
    checks: tuple[CheckResult, ...] = ()
    artefacts: str = ""  #: the run folder (capture.pcap, logs, configs, result.json)
    error: str = ""  #: set when verdict is ERROR
    attempts: int = 1
    ladder: tuple[str, ...] = ()  #: the SIP ladder, one line per message
    summary: Findings = field(default_factory=Findings)  #: what the verdict found (streams, dtmf, flows, load)
    tags: tuple[str, ...] = ()
    #: a load run's per-call rows (``callgen.verdict.load.LoadCallRow``): written to the run
    #: folder's calls.jsonl, not into result.json (thousands of calls)
    load_rows: tuple = field(default=(), compare=False, repr=False)

    @property
    def flows(self) -> tuple[CallFlow, ...]:
        """Structured SIP flow per call (kept in ``summary.call_flows`` so every
        JSON form of the result carries it); () for results without one."""
        return self.summary.call_flows

    @property
    def failed_checks(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if not c.passed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "file": self.file,
            "verdict": self.verdict.value,
            "duration_s": round(self.duration_s, 3),
            "attempts": self.attempts,
            "tags": list(self.tags),
            "error": self.error,
            "artefacts": self.artefacts,
            "checks": [c.to_dict() for c in self.checks],
            "ladder": list(self.ladder),
            "summary": self.summary.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ScenarioResult:
        return cls(
            name=d["name"],
            file=d.get("file", ""),
            verdict=Verdict(d["verdict"]),
            duration_s=float(d.get("duration_s", 0.0)),
            checks=tuple(CheckResult(**c) for c in d.get("checks", ())),
            artefacts=d.get("artefacts", ""),
            error=d.get("error", ""),
            attempts=int(d.get("attempts", 1)),
            ladder=tuple(d.get("ladder", ())),
            summary=Findings.from_dict(d.get("summary") or {}),
            tags=tuple(d.get("tags", ())),
        )
