"""The README's promises stay true: its two commands come first, and CI runs the test one verbatim."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    return re.findall(r"```sh\n(.+?)\n```", (ROOT / "README.md").read_text())


def test_readme_starts_with_two_setup_commands():
    first, second = readme_commands()[:2]
    assert "pip install" in first and "recbot " in first
    assert "pytest" in second


def test_ci_runs_the_readme_test_command_verbatim():
    assert readme_commands()[1] in (ROOT / ".ci" / "run").read_text()
