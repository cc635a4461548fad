"""Refresh docs/*.png from the browser tests: `.venv/bin/python -m tests.browser.refresh_docs [pytest args]`.

Runs tests/browser (or what the arguments select) with its screenshots in a fresh temporary folder and, when
every test passed, copies each screenshot named like an existing docs/*.png over it. A plain test run never
writes into the checkout; this is the one command that does, on purpose."""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory(prefix="recbot-docs-shots-") as folder:
        env = {**os.environ, "REC_SCREENSHOTS": folder}
        command = [sys.executable, "-m", "pytest", "-q", *(argv or ["tests/browser"])]
        status = subprocess.call(command, cwd=ROOT, env=env)
        if status != 0:
            print(f"the browser tests failed (exit {status}): docs/ left as it was", file=sys.stderr)
            return status
        wanted = sorted(p.name for p in DOCS.glob("*.png"))
        taken = [name for name in wanted if (Path(folder) / name).exists()]
        for name in taken:
            shutil.copyfile(Path(folder) / name, DOCS / name)
            print(f"refreshed docs/{name}")
        for name in sorted(set(wanted) - set(taken)):
            print(f"docs/{name}: no test took it in this run, left as it was")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
