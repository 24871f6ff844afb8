"""The suite beyond the README's command: other Pythons, other versions, the distribution.

CI (``.ci/run``) runs the README's test command on the default ``python3`` (ruff, mypy
and the suite with coverage, tools pinned by ``constraints.txt``), then these sessions:

- ``tests``: the suite on every supported Python, pinned by ``constraints.txt`` (CI runs
  only the quick tests, ``QUICK``, on the Pythons that the whole-suite runs leave out);
- ``lowest``: the suite against the lowest versions ``install_requires`` allows (the
  oldest supported Python, the test tools still pinned);
- ``newest``: the suite against the newest releases of everything, unpinned;
- ``dist``: the sdist and the wheel built, checked, installed into a clean environment,
  the demo and the quick tests run against that install;
- ``lock``: ``constraints.txt`` made anew from ``setup.cfg`` (the one command to refresh it);
- ``mutants``: a mutation run of the pure decision modules (not in CI: too slow).

Each session has a fresh environment of its own; arguments after ``--`` go to pytest.
"""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import nox

# The versions setup.cfg's classifiers name; keep the two in step.
PYTHONS = ["3.10", "3.11", "3.12", "3.13", "3.14"]
OLDEST = PYTHONS[0]
# The newest that CI machines have so far (the newest session runs there).
NEWEST = "3.13"
CONSTRAINTS = "constraints.txt"
# The quick tests: what the distribution check runs against the installed wheel (no file
# that needs the repository's own tree beside it), and CI on the other Pythons.
QUICK = [
    "tests/client",
    "tests/codec",
    "tests/test_events.py",
    "tests/test_exports.py",
    "tests/test_models.py",
    "tests/test_policy.py",
    "tests/test_ready.py",
    "tests/test_redis_store.py",
    "tests/test_watcher_answers.py",
]

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


def _uv() -> str:
    """The uv of the environment running nox (the test extra pins it)."""
    return str(Path(sys.executable).with_name("uv"))


def _scratch(session: nox.Session, name: str) -> Path:
    """An empty folder of the session's own (not ``session.create_tmp()``: that points
    TMPDIR into the project, where a test's pytest-in-a-subprocess would read its config)."""
    folder = Path(session.env_dir) / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def _pytest(session: nox.Session, *args: str) -> None:
    """The suite without coverage, two workers per core, a cache of its own per session."""
    cache = f"cache_dir={session.env_dir / '.pytest_cache'}"
    session.run("pytest", "-n", "auto", "-o", cache, *args, *session.posargs)


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The whole suite, the tools and libraries pinned by constraints.txt."""
    session.install("-c", CONSTRAINTS, "-e", ".[suite]")
    _pytest(session)


def _requirements(option: str, section: str = "options") -> list[str]:
    """The requirements an option of setup.cfg lists (install_requires, an extra)."""
    setup = configparser.ConfigParser()
    setup.read("setup.cfg", encoding="utf-8")
    return [line.strip() for line in setup[section][option].splitlines() if line.strip()]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].lower()


@nox.session(python=OLDEST)
def lowest(session: nox.Session) -> None:
    """The whole suite against the lowest versions that install_requires allows.

    Each of the library's requirements is held at the floor of its range; the tools the
    suite extra names stay pinned by constraints.txt; the rest is resolved anew.
    """
    folder = _scratch(session, "lowest")
    floors = [re.sub(r">=", "==", line) for line in _requirements("install_requires")]
    tools = {_name(line) for line in _requirements("suite", "options.extras_require")}
    pinned = Path(CONSTRAINTS).read_text(encoding="utf-8").splitlines()
    held = [line for line in pinned if _name(line) in tools - {_name(f) for f in floors}]
    constraints = folder / "lowest-constraints.txt"
    constraints.write_text("\n".join(floors + held) + "\n", encoding="utf-8")
    session.log("the library's requirements at their floors: " + ", ".join(floors))
    session.install("-c", str(constraints), "-e", ".[suite]")
    _pytest(session)


@nox.session(python=NEWEST)
def newest(session: nox.Session) -> None:
    """The whole suite against the newest releases of everything, unpinned."""
    session.install("--upgrade", "-e", ".[suite]")
    session.run("pip", "list", "--format=freeze", silent=False)
    _pytest(session)


@nox.session
def dist(session: nox.Session) -> None:
    """Build the sdist and the wheel, check them, install the wheel and run it."""
    session.install("-c", CONSTRAINTS, "build", "twine", "check-manifest")
    out = _scratch(session, "dist")
    session.run("check-manifest")
    # The sdist first, then the wheel built from the unpacked sdist.
    session.run("python", "-m", "build", "--outdir", str(out))
    session.run("twine", "check", "--strict", *(str(p) for p in sorted(out.iterdir())))
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    session.install("-c", CONSTRAINTS, f"{wheel}[suite]")
    # The demo from the installed wheel, run from elsewhere so the source tree is not on
    # sys.path.
    with tempfile.TemporaryDirectory() as elsewhere, session.chdir(elsewhere):
        session.run("evs-job-watch", "demo")
    # The quick tests from the unpacked sdist, its package folder removed so they import
    # the installed wheel.
    unpacked = _scratch(session, "sdist")
    with tarfile.open(sdist) as archive:
        archive.extractall(unpacked, filter="data")
    (root,) = unpacked.iterdir()
    shutil.rmtree(root / "evs_job_watch")
    with session.chdir(root):
        session.run(
            "python", "-c",
            "import evs_job_watch, sys; p = evs_job_watch.__file__; print('installed:', p);"
            " sys.exit('site-packages' not in p)",
        )  # fmt: skip
        _pytest(session, *QUICK)


@nox.session(python=False)
def lock(session: nox.Session) -> None:
    """Make constraints.txt anew: the newest versions the ranges allow, for every Python."""
    session.run(
        _uv(), "pip", "compile", "setup.cfg", "--quiet", "--universal",
        "--python-version", OLDEST, "--extra", "test", "--extra", "bench",
        "--extra", "clouds", "--extra", "mutation", "--upgrade", "--output-file", CONSTRAINTS,
    )  # fmt: skip


@nox.session
def mutants(session: nox.Session) -> None:
    """mutmut over the pure decision modules, each mutant against the tests that cover it.

    Not part of CI: it runs those tests once per mutant (minutes, not seconds). What to
    mutate and which tests run is ``[tool.mutmut]`` in pyproject.toml; the last run's
    result is in docs/mutation.md. Arguments after ``--`` go to ``mutmut run`` (a mutant
    name, or ``--max-children N``).
    """
    session.install("-c", CONSTRAINTS, "-e", ".[suite,mutation]")
    session.run("mutmut", "run", *session.posargs)
    session.run("mutmut", "results")
