"""The README and docs/ stay true to the checkout: their links lead somewhere, the module
list names every module, and the install and test sections install what they need."""

from __future__ import annotations

import re

from .conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_relative_links_lead_to_files():
    for page in (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))):
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
