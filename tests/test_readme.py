"""The README's promises stay true: its two commands come first, and CI runs the test one verbatim."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    return re.findall(r"```sh\n(.+?)\n```", (ROOT / "README.md").read_text())


def test_readme_starts_with_two_setup_commands():
    first, second = readme_commands()[:2]
    assert "pip install" in first and first.endswith("recbot demo")
    assert "pytest" in second


def test_ci_runs_the_readme_test_command_verbatim():
    assert readme_commands()[1] in (ROOT / ".ci" / "run").read_text()


def test_readme_names_every_setting_of_the_contract():
    text = (ROOT / "README.md").read_text()
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "SLACK_API_URL", "REC_PLATFORM",
                 "DYTE_ORG_ID", "DYTE_API_KEY", "DYTE_API_URL", "RTK_ACCOUNT_ID", "RTK_APP_ID", "RTK_API_TOKEN",
                 "RTK_API_URL", "REC_WEBHOOK_PUBLIC_KEY", "REC_WEBHOOK_KEY_URL", "REC_DATABASE", "HOST", "PORT"):
        assert f"`{name}" in text, name
    assert (ROOT / "docs" / "workbench.png").exists()


def test_readme_is_short_and_its_links_lead_somewhere():
    """A newcomer reads the README in minutes; the depth is in docs/, and every link to it is a file."""
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 200, "README.md is over 200 lines: move the depth into docs/"
    for target in re.findall(r"\]\(((?:docs|bench)/[^)#]+)", text):
        assert (ROOT / target).exists(), target
    for page in (ROOT / "docs").glob("*.md"):
        for target in re.findall(r"\]\(([^)#:]+)", page.read_text()):
            assert (page.parent / target).exists(), f"{page.name} links to {target}"


def test_bench_report_has_its_table_to_fill():
    from bench.report import MARK
    assert MARK.search((ROOT / "docs" / "performance.md").read_text())
