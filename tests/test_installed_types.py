"""mypy finds the installed package from a user's own directory, editable install included.

setuptools' default editable install for a flat layout imports the package through an
import hook that mypy cannot follow; ``package_dir = =.`` in setup.cfg makes it a plain
path in a ``.pth`` file instead. This runs mypy as a user would, outside the project.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

USER_SCRIPT = """\
from evs_job_watch import JobWatcher, PollPolicy

policy: PollPolicy = PollPolicy(interval=1.0)
wrong: int = JobWatcher  # must be reported: proves mypy read the package's own types
"""


def test_mypy_on_a_user_script_reads_the_installed_package(tmp_path: Path) -> None:
    (tmp_path / "user.py").write_text(USER_SCRIPT)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MYPYPATH")}
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "user.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "import-not-found" not in result.stdout, result.stdout
    assert result.stdout.splitlines()[0] == (
        "user.py:4: error: Incompatible types in assignment (expression has type "
        '"type[JobWatcher]", variable has type "int")  [assignment]'
    ), result.stdout
    assert result.returncode == 1
