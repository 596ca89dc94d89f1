"""The README stays short and the docs stay true: README <= 12 KB, every local link of
the README and docs/ resolves, and the module names docs/architecture.md gives exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_readme_is_at_most_12_kb():
    assert len((ROOT / "README.md").read_bytes()) <= 12 * 1024


def test_readme_keeps_what_a_newcomer_needs():
    text = (ROOT / "README.md").read_text()
    for part in ("make demo", "make test", "## What a pass proves", "```yaml", "## Exit status", "docs/architecture.md"):
        assert part in text, part


def test_every_local_link_resolves():
    broken = []
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if "://" in target:
                continue
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert broken == []


def test_architecture_names_only_modules_that_exist():
    text = (ROOT / "docs" / "architecture.md").read_text()
    packages = text.split("## Packages", 1)[1].split("\n## ", 1)[0]
    missing = []
    for bullet in re.split(r"\n- ", packages):
        pkg = re.match(r"`(callgen/[a-z0-9_]+/)`", bullet)
        if not pkg:
            continue
        for name in re.findall(r"`([a-z0-9_]+\.py)`", bullet.split("; `callgen/")[0]):
            if not (ROOT / pkg[1] / name).exists():
                missing.append(pkg[1] + name)
    assert missing == []


def test_architecture_has_the_pipeline_and_the_three_recipes():
    text = (ROOT / "docs" / "architecture.md").read_text()
    for stage in ("scenario file", "Scenario (frozen model)", "RunPlan", "Evidence", "CaptureAnalysis", "ScenarioResult", "reports"):
        assert stage in text, stage
    for recipe in ("## Recipe: add a step", "## Recipe: add a check", "## Recipe: add a report section"):
        assert recipe in text, recipe
