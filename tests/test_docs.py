"""The documentation: the API reference builds with warnings as errors, every public name
has a docstring, and the README's pytest example passes as written."""

from __future__ import annotations

import enum
import html
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import attrs

import evs_job_watch
import evs_job_watch.cli
import evs_job_watch.otel
import evs_job_watch.simulator
import evs_job_watch.simulator.pytest_plugin

ROOT = Path(__file__).resolve().parent.parent
PUBLIC_MODULES = (evs_job_watch, evs_job_watch.simulator, evs_job_watch.otel)


def test_the_api_reference_builds_with_warnings_as_errors(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    reference = (tmp_path / "api" / "index.html").read_text()
    for name in evs_job_watch.__all__:
        if not name.startswith("__"):
            assert f'id="evs_job_watch.{name}"' in reference, name
    # attrs classes get the signature attrs writes (docs/griffe_attrs.py).
    assert "max_consecutive_errors" in reference
    # The README's tour is a page of the site, built from the README (docs/readme_tour.py).
    readme = (ROOT / "README.md").read_text()
    tour = (tmp_path / "tour" / "index.html").read_text()
    start, end = readme.index("## Wait for one job"), readme.index("## Type checking")
    headings = re.findall(r"^## (.+)$", readme[start:end], re.MULTILINE)
    assert len(headings) >= 10
    for heading in headings:
        assert f">{html.escape(heading, quote=False)}</h2>" in tour, heading
    assert "as_completed(job_ids, timeout=900) as jobs" in html.unescape(
        re.sub(r"<[^>]+>", "", tour)
    )


def _undocumented(module: ModuleType) -> list[str]:
    missing = []
    for name in module.__all__:
        obj = getattr(module, name)
        where = f"{module.__name__}.{name}"
        if not (inspect.isclass(obj) or callable(obj)):
            continue  # constants: described where they are defined
        if not (obj.__dict__.get("__doc__") if inspect.isclass(obj) else obj.__doc__):
            missing.append(where)
        if not inspect.isclass(obj):
            continue
        for member, value in vars(obj).items():
            if member.startswith("_") or isinstance(value, enum.Enum):
                continue
            if isinstance(value, (staticmethod, classmethod)):
                value = value.__func__
            if (callable(value) or isinstance(value, property)) and not value.__doc__:
                missing.append(f"{where}.{member}")
        if attrs.has(obj):  # fields are described in the class docstring (Args/Attributes)
            missing += [
                f"{where} field {field.name}"
                for field in attrs.fields(obj)
                if not re.search(rf"^\s+{field.name}:", obj.__doc__ or "", re.MULTILINE)
            ]
    return missing


def test_every_public_name_has_a_docstring() -> None:
    missing = [name for module in PUBLIC_MODULES for name in _undocumented(module)]
    assert missing == []
    assert evs_job_watch.cli.main.__doc__
    plugin = evs_job_watch.simulator.pytest_plugin
    assert plugin.__doc__
    assert all(getattr(plugin, name).__doc__ for name in ("evs_simulator", "evs_simulator_options"))


def _readme_block(heading: str) -> str:
    """The first ```python block after ``heading`` in README.md."""
    text = (ROOT / "README.md").read_text()
    after = text[text.index(heading) :]
    return after.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_readme_pytest_example_passes_as_written(tmp_path: Path) -> None:
    (tmp_path / "test_example.py").write_text(_readme_block("## Testing your own service"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_"))}
    # No configuration at all: pytest-asyncio in its default (strict) mode, the package's
    # plugin loaded through its entry point, as in a user's project.
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_example.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
