"""The README and docs/ stay true to the checkout: their links lead somewhere, the install and
test sections install what they need, the README's knobs show the real defaults, docs/ is
written for users and every measurement names its machine."""

from __future__ import annotations

import configparser
import re

from tests.helpers import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
RESULTS = ROOT / "bench" / "results"
USER_DOCS = sorted((ROOT / "docs").glob("*.md"))


def test_relative_links_lead_to_files():
    pages = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *RESULTS.glob("*.md"))
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
            if "://" not in target:
                assert (page.parent / target).exists(), f"{page.name} links to missing {target}"


def test_install_and_test_sections_install_their_requirements():
    install = README[README.index("## Install") : README.index("## First run")]
    tests = README[README.index("## Tests") : README.index("## More")]
    assert "pip install -r requirements.txt" in install and "venv" in install
    assert "pip install -r requirements-dev.txt" in tests
    assert "-r requirements.txt" in (ROOT / "requirements-dev.txt").read_text()
    for tool in ("pytest", "ruff"):  # the user's install gets no test tools
        assert tool not in (ROOT / "requirements.txt").read_text()


def test_no_machine_paths_in_the_readme():
    assert "/work/" not in README and "development machine" not in README


def test_the_readme_is_short():
    assert len(README.split()) <= 2500, "README.md: over 2,500 words; move detail into docs/"


def test_the_readme_knobs_show_the_defaults():
    """Every `[section] key` row of the knobs table gives the default config.ini has (which
    a settings test keeps equal to the settings' own defaults)."""
    config = configparser.ConfigParser(interpolation=None)
    config.read(ROOT / "config.ini", encoding="utf-8")
    knobs = README[README.index("## The knobs that matter") : README.index("## What a run writes")]
    rows = re.findall(r"^\| `\[(\w+)\] (\w+)` \| ([^|]*) \|", knobs, flags=re.M)
    assert len(rows) >= 10
    for section, key, default in rows:
        assert default.strip() == config[section][key], f"[{section}] {key}: README {default}"


def test_user_docs_read_as_user_docs():
    """docs/ is for users: no issue numbers, no development machine, no work sessions;
    measurements live in bench/results/."""
    diary = re.compile(
        r"\bissues? ?#?\d+|development (VM|machine)|Proposed README|(?<!SSH )\bsessions?\b",
        flags=re.I,
    )
    for page in (ROOT / "README.md", *USER_DOCS):
        found = diary.search(page.read_text(encoding="utf-8"))
        assert found is None, f"{page.name}: {found.group(0)!r}"


def test_every_measurement_page_names_its_machine():
    pages = [p for p in sorted(RESULTS.glob("*.md")) if p.name != "README.md"]
    assert pages, "bench/results/ has no measurement pages"
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert "Machine:" in text and re.search(r"\b2[ -]cores?\b", text), page.name
