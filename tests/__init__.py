"""The test suite; its shared helpers are modules of this package."""

import pytest

# canary.py's searches assert outside a test module: pytest explains their failures too.
pytest.register_assert_rewrite("tests.canary")
