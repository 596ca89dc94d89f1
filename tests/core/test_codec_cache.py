"""What a pjsua supports is probed once per binary, not once per run: the list is
cached under $XDG_CACHE_HOME/callgen keyed by the binary's identity, a changed
binary is probed again, and a cache that cannot be written costs only the probe."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from callgen.pjsua.codecs import binary_identity, cache_dir, cached_codecs

ROOT = Path(__file__).resolve().parents[2]


def fake_pjsua(path: Path, counter: Path, codecs: tuple[str, ...] = ("PCMA/8000/1", "opus/48000/2")) -> Path:
    """A stand-in that prints the 'Cp' codec list as pjsua does and counts its runs."""
    listing = "".join(f"  {130 - i} {c}\\n" for i, c in enumerate(codecs))
    path.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        echo run >> {counter}
        printf 'List of audio codecs:\\n{listing}\\nEnter codec id: '
        cat >/dev/null
        """))
    path.chmod(0o755)
    return path


def runs(counter: Path) -> int:
    return len(counter.read_text().splitlines()) if counter.exists() else 0


def codecs_in_new_process(pjsua: Path, cache_home: Path) -> list[str]:
    """``supported_codecs`` as a fresh ``callgen run`` process calls it (no in-process memory)."""
    code = "import sys; from callgen.pjsua.codecs import supported_codecs; print(','.join(supported_codecs(sys.argv[1])))"
    env = {**os.environ, "XDG_CACHE_HOME": str(cache_home)}
    out = subprocess.run([sys.executable, "-c", code, str(pjsua)], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=30, check=True)
    return out.stdout.strip().split(",")


def test_second_run_reads_the_cache_instead_of_starting_pjsua(tmp_path):
    counter = tmp_path / "runs"
    pjsua = fake_pjsua(tmp_path / "pjsua", counter)
    first = codecs_in_new_process(pjsua, tmp_path / "cache")
    second = codecs_in_new_process(pjsua, tmp_path / "cache")
    assert first == second == ["PCMA/8000/1", "opus/48000/2"]
    assert runs(counter) == 1
    assert (tmp_path / "cache" / "callgen" / "pjsua-codecs.json").is_file()


def test_a_changed_binary_is_probed_again(tmp_path):
    counter = tmp_path / "runs"
    pjsua = fake_pjsua(tmp_path / "pjsua", counter)
    assert cached_codecs(str(pjsua), directory=tmp_path / "c") == ("PCMA/8000/1", "opus/48000/2")
    before = binary_identity(str(pjsua))
    fake_pjsua(pjsua, counter, codecs=("PCMU/8000/1",))  # rebuilt: other size, mtime
    assert binary_identity(str(pjsua)) != before
    assert cached_codecs(str(pjsua), directory=tmp_path / "c") == ("PCMU/8000/1",)
    assert runs(counter) == 2


def test_a_cache_that_cannot_be_written_costs_only_the_probe(tmp_path):
    counter = tmp_path / "runs"
    pjsua = fake_pjsua(tmp_path / "pjsua", counter)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    assert codecs_in_new_process(pjsua, blocker) == ["PCMA/8000/1", "opus/48000/2"]
    assert codecs_in_new_process(pjsua, blocker) == ["PCMA/8000/1", "opus/48000/2"]
    assert runs(counter) == 2


def test_a_corrupt_cache_is_ignored_and_replaced(tmp_path):
    counter = tmp_path / "runs"
    pjsua = fake_pjsua(tmp_path / "pjsua", counter)
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "pjsua-codecs.json").write_text("{not json")
    assert cached_codecs(str(pjsua), directory=tmp_path / "c") == ("PCMA/8000/1", "opus/48000/2")
    assert cached_codecs(str(pjsua), directory=tmp_path / "c") == ("PCMA/8000/1", "opus/48000/2")
    assert runs(counter) == 1


def test_a_failed_probe_is_not_remembered(tmp_path):
    calls = []

    def probe(path: str) -> list[str]:
        calls.append(path)
        return []

    pjsua = fake_pjsua(tmp_path / "pjsua", tmp_path / "runs")
    assert cached_codecs(str(pjsua), directory=tmp_path / "c", probe=probe) == ()
    assert cached_codecs(str(pjsua), directory=tmp_path / "c", probe=probe) == ()
    assert len(calls) == 2


@pytest.mark.parametrize("env, expected", [
    ({"XDG_CACHE_HOME": "/x/cache", "HOME": "/home/u"}, "/x/cache/callgen"),
    ({"XDG_CACHE_HOME": "", "HOME": "/home/u"}, "/home/u/.cache/callgen"),
    ({"XDG_CACHE_HOME": "relative/dir", "HOME": "/home/u"}, "/home/u/.cache/callgen"),
])
def test_cache_folder_follows_xdg(env, expected):
    assert cache_dir(env) == Path(expected)
