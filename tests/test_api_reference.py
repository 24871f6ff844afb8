"""The API reference shows each public class as Python sees it: the signature mkdocstrings
renders (from griffe, with the project's own griffe extension, as ``mkdocs.yml`` sets it
up) has the parameters of ``inspect.signature``: names, kinds, defaults, annotations.
Every public module has its page, and every enum its members."""

from __future__ import annotations

import enum
import inspect
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs
import griffe
import pytest
import yaml

import evs_job_watch
import evs_job_watch.otel
import evs_job_watch.redis
import evs_job_watch.simulator

ROOT = Path(__file__).resolve().parent.parent
PUBLIC_MODULES = (evs_job_watch, evs_job_watch.redis, evs_job_watch.otel, evs_job_watch.simulator)
PUBLIC_CLASSES = [
    (module.__name__, name)
    for module in PUBLIC_MODULES
    for name in module.__all__
    if inspect.isclass(getattr(module, name))
]


@pytest.fixture(scope="module")
def loaded() -> griffe.ModulesCollection:
    """The packages as mkdocstrings loads them: static analysis, the attrs extension."""
    extensions = griffe.load_extensions(str(ROOT / "docs" / "griffe_attrs.py"))
    loader = griffe.GriffeLoader(extensions=extensions, search_paths=[str(ROOT)])
    loader.load("evs_job_watch")
    loader.resolve_aliases(implicit=False, external=False)
    return loader.modules_collection


def _annotation(text: object) -> str:
    return re.sub(r"\s+", "", str(text)).replace("typing.", "")


def _rendered(cls: griffe.Class, home: ModuleType) -> list[tuple[str, str, object, str]]:
    """The parameters as rendered, a default evaluated where the class's module defines it
    (a literal, or a name such as ``METADATA_URL`` or ``Faults()``)."""
    rendered = []
    for p in cls.parameters:
        if p.name == "self":
            continue
        default: object = inspect.Parameter.empty
        variadic = p.kind in (griffe.ParameterKind.var_positional, griffe.ParameterKind.var_keyword)
        if p.default is not None and not variadic:  # griffe shows ``**options`` as ``{}``
            default = eval(str(p.default), vars(home))  # the docs' text, read back
        kind = p.kind.value if p.kind else ""
        rendered.append((p.name, kind, default, _annotation(p.annotation)))
    return rendered


def _actual(obj: type, rendered: list[tuple[str, str, object, str]]) -> list[Any]:
    """``inspect.signature``'s parameters; an annotation only where Python has one (attrs
    leaves a field with a converter of a type, ``float``, unannotated)."""
    try:
        parameters = list(inspect.signature(obj).parameters.values())
    except ValueError:  # an exception class that keeps BaseException's own __init__
        return []
    shown = {name: annotation for name, _, _, annotation in rendered}
    actual = []
    for p in parameters:
        annotation = p.annotation
        if annotation is inspect.Parameter.empty:
            text = shown.get(p.name, "")
        else:
            text = annotation
            if not isinstance(annotation, str):
                text = inspect.formatannotation(annotation)
        kind = griffe.ParameterKind(str(p.kind.description)).value
        default = p.default
        if default is attrs.NOTHING:  # attrs shows a factory so: what the factory makes
            default = attrs.fields_dict(obj)[p.name].default.factory()
        actual.append((p.name, kind, default, _annotation(text)))
    return actual


@pytest.mark.parametrize(("module_name", "name"), PUBLIC_CLASSES)
def test_the_rendered_signature_of_a_public_class_is_its_real_one(
    loaded: griffe.ModulesCollection, module_name: str, name: str
) -> None:
    obj = getattr(__import__(module_name, fromlist=[name]), name)
    if issubclass(obj, enum.Enum) or getattr(obj, "_is_protocol", False):
        return  # an enum is called with a value, a protocol is implemented: neither is made
    found: Any = loaded[f"{module_name}.{name}"]
    cls = found.final_target if isinstance(found, griffe.Alias) else found
    home = __import__(obj.__module__, fromlist=["_"])
    rendered = _rendered(cls, home)
    assert rendered == _actual(obj, rendered)


def test_every_public_module_has_a_page_in_the_reference() -> None:
    pages = (ROOT / "docs").glob("*.md")
    documented = {
        line.split()[1]
        for page in pages
        for line in page.read_text(encoding="utf-8").splitlines()
        if line.startswith("::: ")
    }
    nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))["nav"]
    reference = next(item["API reference"] for item in nav if "API reference" in item)
    listed = {next(iter(entry)) for entry in reference}
    for module in PUBLIC_MODULES:
        assert module.__name__ in documented
        assert module.__name__ in listed


@pytest.mark.parametrize("name", ["JobStatus", "JobType"])
def test_every_enum_member_has_a_docstring_to_render(
    loaded: griffe.ModulesCollection, name: str
) -> None:
    found: Any = loaded[f"evs_job_watch.{name}"]
    cls = found.final_target
    members = [member.name for member in getattr(evs_job_watch, name)]
    assert members
    for member in members:
        assert cls.members[member].docstring is not None, member
