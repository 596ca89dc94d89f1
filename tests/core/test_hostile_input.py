"""Hostile scenario files: any size, depth, alias structure or file type ends
quickly, with one line naming the file and the reason, exit 2, bounded memory.

Every file is generated here (sparse files, FIFOs, generators); nothing big is
kept in the repository.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from callgen.errors import ScenarioError
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


@pytest.mark.parametrize("case", sorted(HOSTILE_TEXT))
def test_hostile_text_is_refused_quickly_with_one_line(case, tmp_path):
    text, reason = HOSTILE_TEXT[case]
    f = tmp_path / f"{case}.yaml"
    f.write_text(text, encoding="utf-8")
    t0 = time.monotonic()
    with pytest.raises(ScenarioError) as info:
        load_yaml(f, "x.yaml")
    assert time.monotonic() - t0 < 1.0
    line = str(info.value)
    assert line.startswith("x.yaml:") and reason in line and "\n" not in line


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


def _validate_bounded(path: str | Path) -> tuple[subprocess.CompletedProcess, float]:
    """``callgen validate PATH`` in a child with 1 GiB of address space and a deadline."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (LIMIT_AS, LIMIT_AS))

    t0 = time.monotonic()
    p = subprocess.run([sys.executable, "-m", "callgen", "validate", str(path)], cwd=ROOT, capture_output=True,
                       text=True, timeout=20, preexec_fn=limit, stdin=subprocess.DEVNULL)
    return p, time.monotonic() - t0


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
    p, elapsed = _validate_bounded(path)
    assert p.returncode == 2, p.stderr[-500:]
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"callgen: error: {path}") and reason in lines[0]
    assert "Traceback" not in p.stderr
    assert elapsed < 3.0  # 0.41 s measured, interpreter start included; the refusal itself is milliseconds


def test_size_limit_is_exact(tmp_path):
    ok = tmp_path / "ok.yaml"
    ok.write_bytes(b"a: 1\n" + b"#" * (MAX_BYTES - 6) + b"\n")
    assert load_yaml(ok)[0] == {"a": 1}
    big = tmp_path / "big.yaml"
    big.write_bytes(b"a: 1\n" + b"#" * (MAX_BYTES - 5) + b"\n")
    with pytest.raises(ScenarioError, match=f"limit is {MAX_BYTES} bytes"):
        load_yaml(big)
