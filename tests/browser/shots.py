"""Where the browser tests put their screenshots: a folder under the system's temporary directory, never the
checkout (a test run leaves `git status` clean; tests/test_checkout.py checks it). `REC_SCREENSHOTS` names
another folder. A screenshot named like one of docs/*.png is the one that `python -m tests.browser.refresh_docs`
copies over it."""

import os
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(os.environ.get("REC_SCREENSHOTS") or Path(tempfile.gettempdir()) / f"recbot-screenshots-{ROOT.name}")
SCREENSHOTS.mkdir(parents=True, exist_ok=True)
