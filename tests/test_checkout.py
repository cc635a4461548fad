"""A test run leaves the checkout as it found it: screenshots, databases and files go to temporary folders,
never into the clone (tests/conftest.py runs this last and took the state at the session's start)."""

import pytest

from tests.conftest import checkout_state


def test_the_run_wrote_nothing_into_the_checkout(request):
    before, after = request.config.checkout_at_start, checkout_state()
    if before is None or after is None:
        pytest.skip("not a git checkout: nothing to compare")
    changed = sorted(path for path in before.keys() | after.keys() if before.get(path) != after.get(path))
    assert not changed, ("the test run changed the checkout (write into tmp_path or tests.browser.shots."
                         f"SCREENSHOTS instead): {changed}")
