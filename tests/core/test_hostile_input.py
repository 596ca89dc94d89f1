"""Hostile scenario files: any size, depth, alias structure or file type ends
with bounded work, with one line naming the file and the reason, exit 2, bounded memory.

No wall-clock assertion (a loaded machine slows any run; speed is the benchmarks'
business): a refusal in-process must fit a budget of Python function calls, counted
deterministically, and the command in a child must fit limits on address space and CPU
time; a hard timeout only guards against a hang.

Every file is generated here (sparse files, FIFOs, generators); nothing big is
kept in the repository.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from callgen.errors import ScenarioError
from callgen.scenario import yamlsrc
from callgen.scenario.yamlsrc import MAX_BYTES, MAX_DEPTH, MAX_NODES, load_yaml

ROOT = Path(__file__).resolve().parents[2]

VALID_TAIL = "agents: {a: {role: caller}, b: {role: callee}}\ncalls: [{from: a, to: b}]\n"


def _laughs(levels: int) -> str:
    lines = ['l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


HOSTILE_TEXT = {
    "deep_list": ("a: " + "[" * 5000 + "]" * 5000 + "\n", f"nested more than {MAX_DEPTH} levels deep"),
    "deep_block": ("".join("  " * i + f"k{i}:\n" for i in range(200)) + "  " * 200 + "x: 1\n",
                   f"nested more than {MAX_DEPTH} levels deep"),
    "laughs_7": (_laughs(7), f"more than {MAX_NODES} YAML nodes"),
    "laughs_9": (_laughs(9), f"more than {MAX_NODES} YAML nodes"),
    "many_nodes": ("[" + ",".join("1" for _ in range(100_000)) + "]\n", f"more than {MAX_NODES} YAML nodes"),
    "alias_cycle": ("a: &x [1, *x]\n", "a cycle"),
    "map_tag": (
        "name: t\nagents: !!python/object/new:os.system {a: {role: caller}}\n",
        "YAML tag '!!python/object/new:os.system' is not allowed",
    ),
    "seq_tag": ("name: t\ncalls: !!set [1]\n", "YAML tag '!!set' is not allowed"),
    "local_tag": ("name: !env HOME\n", "YAML tag '!env' is not allowed"),
    "binary": ("name: !!binary aGVsbG8=\n", "YAML tag '!!binary' is not allowed"),
    "nan_timeout": ("name: t\ntimeout: .nan\n" + VALID_TAIL, "'.nan' is not a finite number"),
    "nan_pause": ("name: t\ncalls: [{steps: [{pause: .NaN}]}]\n", "'.NaN' is not a finite number"),
    "inf_pause": ("name: t\ncalls: [{steps: [{pause: -.inf}]}]\n", "'-.inf' is not a finite number"),
    "overflow": ("name: t\ntimeout: 1.0e+999\n", "'1.0e+999' is not a finite number"),
    "huge_int": ("name: t\ntimeout: " + "1" * 5000 + "\n", "an integer of 5000 characters"),
    "nul_bytes": ("name: t\x00\n", "not YAML text"),
}


#: Python function calls one refusal may cost.  The dearest case here (many_nodes: 100,000
#: list items, refused at MAX_NODES) costs about 117 calls a node; a loader that expands
#: aliases or reads on past a limit spends millions more (billion laughs: 10^9 nodes).
CALL_BUDGET = 200 * MAX_NODES


class _OverBudget(BaseException):
    """Raised inside the work being counted once it exceeds its budget (a BaseException,
    so no ``except Exception`` in the code under test can swallow it)."""


def _work(fn, budget: int = CALL_BUDGET) -> tuple[int, BaseException | None]:
    """Run ``fn`` counting the Python function calls it makes; stop it past ``budget``.
    Returns the count and what ``fn`` raised (None when it returned)."""
    calls = 0

    def trace(frame, event, arg):  # called on 'call' only: returning None traces no lines
        nonlocal calls
        calls += 1
        if calls > budget:
            raise _OverBudget(f"more than {budget} Python calls")

    previous = sys.gettrace()  # a coverage tracer, if any, comes back afterwards
    sys.settrace(trace)
    try:
        fn()
    except (_OverBudget, Exception) as exc:  # the caller asserts what it was
        return calls, exc
    finally:
        sys.settrace(previous)
    return calls, None


@pytest.mark.parametrize("case", sorted(HOSTILE_TEXT))
def test_hostile_text_is_refused_with_bounded_work_and_one_line(case, tmp_path):
    text, reason = HOSTILE_TEXT[case]
    f = tmp_path / f"{case}.yaml"
    f.write_text(text, encoding="utf-8")
    calls, raised = _work(lambda: load_yaml(f, "x.yaml"))
    assert isinstance(raised, ScenarioError), f"{calls} calls, then {raised!r}"
    line = str(raised)
    assert line.startswith("x.yaml:") and reason in line and "\n" not in line


def test_the_work_budget_stops_a_loader_without_a_node_limit(tmp_path, monkeypatch):
    """The budget can fail for the right reason: without MAX_NODES, billion laughs is
    expanded in full, and the count stops it long before it ends."""
    monkeypatch.setattr(yamlsrc, "MAX_NODES", 10**12)
    f = tmp_path / "laughs.yaml"
    f.write_text(_laughs(7), encoding="utf-8")
    calls, raised = _work(lambda: load_yaml(f, "x.yaml"))
    assert isinstance(raised, _OverBudget) and calls == CALL_BUDGET + 1


def test_line_of_the_refused_part(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text("name: t\ntags: [a]\ntimeout: .inf\n")
    with pytest.raises(ScenarioError) as info:
        load_yaml(f, "s.yaml")
    assert info.value.location == "s.yaml:3"


def test_core_tags_and_finite_floats_still_load(tmp_path):
    f = tmp_path / "ok.yaml"
    f.write_text("a: !!str 5\nb: !!float 1.5\nc: !!int '7'\nd: !!map {x: 1}\ne: !!seq [1]\nf: &n {y: 2}\ng: *n\n")
    data, _ = load_yaml(f)
    assert data == {"a": "5", "b": 1.5, "c": 7, "d": {"x": 1}, "e": [1], "f": {"y": 2}, "g": {"y": 2}}


def test_nan_in_an_expectation_is_refused_by_validate(cli, write_yaml):
    r = cli("validate", str(write_yaml("name: t\n" + VALID_TAIL.replace("to: b}", "to: b, expect: {setup_ms_max: .nan}}"))))
    assert r.status == 2
    assert "not a finite number" in r.err and "<= nan" not in r.err + r.out


# ----------------------------------------------------------------- files that never end or are huge

LIMIT_AS = 1 << 30  # 1 GiB of address space for the whole validating process
#: CPU seconds for the whole validating process (0.4 s measured, interpreter start included;
#: the refusal itself is milliseconds): CPU time, unlike wall time, does not grow with the
#: machine's load.  A child past it is killed by SIGXCPU.
LIMIT_CPU_S = 10
HANG_GUARD_S = 120  #: wall-clock timeout only so a hang ends the test (a FIFO read blocks, using no CPU)


def _validate_bounded(path: str | Path) -> subprocess.CompletedProcess:
    """``callgen validate PATH`` in a child limited in address space and CPU time."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (LIMIT_AS, LIMIT_AS))
        resource.setrlimit(resource.RLIMIT_CPU, (LIMIT_CPU_S, LIMIT_CPU_S + 1))

    return subprocess.run([sys.executable, "-m", "callgen", "validate", str(path)], cwd=ROOT, capture_output=True,
                          text=True, timeout=HANG_GUARD_S, preexec_fn=limit, stdin=subprocess.DEVNULL)


@pytest.fixture
def fifo(tmp_path):
    p = tmp_path / "pipe.yaml"
    os.mkfifo(p)
    return p


@pytest.fixture
def sparse(tmp_path):
    p = tmp_path / "sparse.yaml"
    with open(p, "wb") as f:
        f.truncate(1 << 30)  # 1 GiB of NULs, no disk used
    return p


@pytest.fixture
def spaces(tmp_path):
    p = tmp_path / "spaces.yaml"
    with open(p, "wb") as f:
        block = b" " * (1 << 20)
        for _ in range(300):  # 300 MiB of spaces
            f.write(block)
    return p


@pytest.mark.parametrize("kind, reason", [
    ("/dev/zero", "a character device, not a regular file"),
    ("fifo", "a FIFO, not a regular file"),
    ("sparse", f"the limit is {MAX_BYTES} bytes"),
    ("spaces", f"the limit is {MAX_BYTES} bytes"),
    ("laughs", f"more than {MAX_NODES} YAML nodes"),
    ("directory", "no scenario file found in the folder"),  # validate walks a folder, as run does
])
def test_files_that_never_end_or_are_huge(kind, reason, request, tmp_path):
    if kind == "laughs":
        path = tmp_path / "laughs.yaml"
        path.write_text(_laughs(9))
    elif kind == "directory":
        path = tmp_path
    elif kind.startswith("/"):
        path = Path(kind)
    else:
        path = request.getfixturevalue(kind)
    p = _validate_bounded(path)
    assert p.returncode == 2, (p.returncode, p.stderr[-500:])
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"callgen: error: {path}") and reason in lines[0]
    assert "Traceback" not in p.stderr


def test_size_limit_is_exact(tmp_path):
    ok = tmp_path / "ok.yaml"
    ok.write_bytes(b"a: 1\n" + b"#" * (MAX_BYTES - 6) + b"\n")
    assert load_yaml(ok)[0] == {"a": 1}
    big = tmp_path / "big.yaml"
    big.write_bytes(b"a: 1\n" + b"#" * (MAX_BYTES - 5) + b"\n")
    with pytest.raises(ScenarioError, match=f"limit is {MAX_BYTES} bytes"):
        load_yaml(big)
