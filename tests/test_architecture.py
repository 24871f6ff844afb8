"""The package's layers, as docs/ARCHITECTURE.md draws them, hold in the code.

Every module is named on that page; every import within the package goes to the
module's own layer or to one below it; the core never imports the optional parts.
"""

from __future__ import annotations

import ast
import pkgutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import evs_job_watch

PACKAGE = Path(evs_job_watch.__file__).parent
ARCHITECTURE = Path(__file__).parent.parent / "docs" / "ARCHITECTURE.md"

# The core's own layers, bottom-up: each may import the ones before it.
CORE_LAYERS = ["basics", "delivery", "one watch", "state", "polling", "face"]
# Each layer, and the layers below it that its modules may import (its own is allowed).
BELOW: dict[str, set[str]] = {
    "values": set(),
    "wire": {"values"},
    "credentials": {"values", "wire"},
    "api": {"values", "wire", "credentials"},
    **{
        f"core: {layer}": {"values", "wire"} | {f"core: {lower}" for lower in CORE_LAYERS[:i]}
        for i, layer in enumerate(CORE_LAYERS)
    },
    "simulator": set(),  # the oracle: nothing of the library
}
LIBRARY = set(BELOW) - {"simulator"}
BELOW["face"] = LIBRARY  # evs_job_watch/__init__.py: the public names
BELOW["redis"] = LIBRARY - {"credentials", "api", "core: polling", "core: face"}
BELOW["otel"] = {"face"}
BELOW["cli"] = set(BELOW)  # the top: cli.py and its parts, and the demos
CORE = {
    "_events": "basics",
    "_snapshot": "basics",
    "_tasks": "basics",
    "_source": "basics",
    "_outbox": "delivery",
    "_stream": "delivery",
    "_delivery": "delivery",
    "_ready": "basics",
    "_watch": "one watch",
    "_handle": "one watch",
    "_store": "state",
    "_watchset": "state",
    "_schedule": "polling",
    "_survival": "polling",
    "_learn": "polling",
    "_pacer": "polling",
    "_disks": "polling",
    "_hints": "polling",
    "_poller": "polling",
    "_fleet": "polling",
    "_watcher": "face",
    "_fanout": "face",
}
VALUES = {"_models", "_errors", "_policy", "_validate", "_version"}
OPTIONAL = ("evs_job_watch.redis", "evs_job_watch.otel", "evs_job_watch.simulator")


def modules(path: Path = PACKAGE, prefix: str = "evs_job_watch") -> Iterator[tuple[str, bool]]:
    """Every module of the package, with whether it is a package, found without importing."""
    for info in pkgutil.iter_modules([str(path)], prefix + "."):
        yield info.name, info.ispkg
        if info.ispkg:
            yield from modules(path / info.name.rsplit(".", 1)[1], info.name)


def layer_of(module: str) -> str:
    parts = module.split(".")[1:]
    if not parts or parts == ["__init__"]:
        return "face"
    head = parts[0]
    if head in VALUES:
        return "values"
    if head in ("_wire", "_credentials", "_api"):
        return head[1:]
    if head == "_core":
        return "core: " + CORE[parts[1]] if len(parts) > 1 else "core: basics"
    if head in ("_cli", "cli", "__main__") or parts == ["redis", "_demo"]:
        return "cli"  # redis/_demo.py is the command line's replicas demo
    if head in ("redis", "otel", "simulator"):
        return head
    raise AssertionError(f"{module} is in no layer: add it to BELOW and the page")


def source_of(module: str, is_package: bool) -> Path:
    path = PACKAGE.parent.joinpath(*module.split("."))
    return path / "__init__.py" if is_package else path.with_suffix(".py")


def imported(module: str, is_package: bool, source: str, known: set[str]) -> Iterator[str]:
    """The modules of the package (and outside it) that ``source`` imports, typing-only
    and function-level imports included."""
    here = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                base = node.module or ""
            else:
                parent = here[: len(here) - node.level + 1]
                base = ".".join(parent + ([node.module] if node.module else []))
            for alias in node.names:
                target = f"{base}.{alias.name}"
                yield target if target in known else base


def upward(module: str, is_package: bool, source: str, known: set[str]) -> list[str]:
    """The imports of ``source`` that go to a layer not below the module's own."""
    layer = layer_of(module)
    found = []
    for target in imported(module, is_package, source, known):
        if target.split(".")[0] != "evs_job_watch" or target == module:
            continue
        other = layer_of(target)
        if other != layer and other not in BELOW[layer]:
            found.append(f"{module} ({layer}) imports {target} ({other})")
    return found


ALL = [("evs_job_watch", True), *sorted(modules())]
KNOWN = {name for name, _ in ALL} | {"evs_job_watch"}


def test_every_module_is_named_on_the_architecture_page() -> None:
    page = ARCHITECTURE.read_text()
    named = []
    for module, is_package in ALL:
        relative = "/".join(module.split(".")[1:])
        if not relative:
            named.append("`__init__.py`")
        else:
            named.append(f"`{relative}/`" if is_package else f"`{relative}.py`")
    assert len(named) > 60  # the walk found the subpackages' modules too
    assert [name for name in named if name not in page] == []


def test_every_module_has_a_layer_and_the_layers_form_no_circle() -> None:
    layers = {layer_of(module) for module, _ in ALL}
    assert layers == set(BELOW)
    seen: set[str] = set()

    def visit(layer: str, path: tuple[str, ...]) -> None:
        assert layer not in path, path
        if layer not in seen:
            for lower in BELOW[layer]:
                visit(lower, (*path, layer))
            seen.add(layer)

    for layer in BELOW:
        visit(layer, ())


def test_no_module_imports_from_a_higher_layer() -> None:
    found = []
    for module, is_package in ALL:
        found += upward(module, is_package, source_of(module, is_package).read_text(), KNOWN)
    assert found == []


@pytest.mark.parametrize(
    ("module", "line"),
    [
        ("evs_job_watch._models", "from ._core._watcher import JobWatcher"),
        ("evs_job_watch._core._watch", "from ._schedule import Place"),
        ("evs_job_watch._core._store", "from ._poller import Poller"),
        ("evs_job_watch._wire._codec", "from .._credentials import _auth"),
        ("evs_job_watch._core._poller", "from ..cli import main"),
        ("evs_job_watch.simulator._jobs", "from .._models import Job"),
        ("evs_job_watch._api._client", "import evs_job_watch._core._watcher"),
    ],
)
def test_an_upward_import_is_found(module: str, line: str) -> None:
    source = source_of(module, False).read_text() + f"\n{line}\n"
    assert len(upward(module, False, source, KNOWN)) == 1


def test_the_core_imports_no_optional_part() -> None:
    found = []
    for module, is_package in ALL:
        if layer_of(module) in ("cli", "face", "redis", "otel", "simulator"):
            continue
        source = source_of(module, is_package).read_text()
        for target in imported(module, is_package, source, KNOWN):
            if target.startswith(OPTIONAL) or target.split(".")[0] in ("redis", "opentelemetry"):
                found.append(f"{module} imports {target}")
    assert found == []
