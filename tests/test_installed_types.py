"""mypy finds the installed package from a user's own directory, editable install included.

setuptools' default editable install for a flat layout imports the package through an
import hook that mypy cannot follow; ``package_dir = =.`` in setup.cfg makes it a plain
path in a ``.pth`` file instead. This runs mypy as a user would, outside the project.
Imports are found but not followed (``--follow-imports=skip``): finding the package, and
its ``py.typed``, is what failed; analysing aiohttp and the rest would only cost time.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

USER_SCRIPT = """\
from evs_job_watch import JobWatcher, PollPolicy
from evs_job_watch.simulator import EvsSimulator

print(JobWatcher, PollPolicy, EvsSimulator)
"""


def test_mypy_on_a_user_script_reads_the_installed_package(tmp_path: Path) -> None:
    (tmp_path / "user.py").write_text(USER_SCRIPT)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MYPYPATH")}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-incremental",
            "--follow-imports=skip",
            "user.py",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    # Not found, or found without py.typed, would be an import-not-found or an
    # import-untyped error.
    assert result.stdout == "Success: no issues found in 1 source file\n", result.stdout
    assert result.returncode == 0
