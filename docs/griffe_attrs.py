"""A griffe extension for the API reference: the ``__init__`` that attrs writes at run time.

Static analysis sees no ``__init__`` in an ``@attrs.frozen`` class, so its signature would
be empty and the ``Args:`` of its docstring would match nothing. This one builds the
signature from the class's annotated fields, in order, with their defaults: properties
are left out, and a field with a converter takes what the converter takes, as attrs
does. ``tests/test_api_reference.py`` checks the result against ``inspect.signature``.
"""

from __future__ import annotations

import ast
from typing import Any

import griffe

_DECORATORS = {"attrs.frozen", "attrs.define", "attrs.mutable", "attr.s", "attr.attrs"}
_FIELD_CALLS = {"attrs.field", "attr.ib", "attr.attrib"}


def _attrs_decorator(cls: griffe.Class) -> griffe.Expr | str | None:
    for decorator in cls.decorators:
        value = decorator.value
        path = value.function.canonical_path if isinstance(value, griffe.ExprCall) else None
        if isinstance(value, griffe.Expr) and path is None:
            path = value.canonical_path
        if path in _DECORATORS:
            return value
    return None


def _keywords(call: griffe.Expr | str | None) -> dict[str, str | griffe.Expr]:
    if not isinstance(call, griffe.ExprCall):
        return {}
    return {
        argument.name: argument.value
        for argument in call.arguments
        if isinstance(argument, griffe.ExprKeyword)
    }


def _converter_annotation(
    cls: griffe.Class, converter: str | griffe.Expr | None
) -> str | griffe.Expr | None:
    """What a field's converter takes (attrs puts it in ``__init__``), if a function of
    the class's module says; None for a type (``float``), which attrs leaves unannotated."""
    if converter is None:
        return None
    function = cls.module.members.get(str(converter))
    if isinstance(function, griffe.Function) and function.parameters:
        return function.parameters[0].annotation
    return None


def _parameter(
    cls: griffe.Class, attribute: griffe.Attribute, kw_only: bool
) -> griffe.Parameter | None:
    value = attribute.value
    field: dict[str, str | griffe.Expr] = {}
    annotation = attribute.annotation
    if isinstance(value, griffe.ExprCall) and value.function.canonical_path in _FIELD_CALLS:
        field = _keywords(value)
        if str(field.get("init", "True")) == "False":
            return None
        default = field.get("default")
        if "factory" in field:
            default = griffe.ExprCall(function=field["factory"], arguments=[])  # type: ignore[arg-type]
        annotation = _converter_annotation(cls, field.get("converter")) or annotation
    else:
        default = value
    kind = (
        griffe.ParameterKind.keyword_only
        if kw_only or str(field.get("kw_only", "False")) == "True"
        else griffe.ParameterKind.positional_or_keyword
    )
    return griffe.Parameter(
        attribute.name.lstrip("_"),  # attrs drops a private field's underscore
        annotation=annotation,
        kind=kind,
        default=default,
        docstring=attribute.docstring,
    )


class AttrsInit(griffe.Extension):
    """Gives each attrs class without an explicit ``__init__`` the one attrs generates."""

    def on_class_members(
        self, *, node: ast.AST | griffe.ObjectNode, cls: griffe.Class, agent: Any, **kwargs: Any
    ) -> None:
        decorator = _attrs_decorator(cls)
        if decorator is None or "__init__" in cls.members:
            return
        kw_only = str(_keywords(decorator).get("kw_only", "False")) == "True"
        parameters = [griffe.Parameter("self", kind=griffe.ParameterKind.positional_or_keyword)]
        for member in cls.members.values():
            if not isinstance(member, griffe.Attribute) or member.annotation is None:
                continue
            if "class-attribute" in member.labels and "instance-attribute" not in member.labels:
                continue  # a ClassVar, not a field
            if "property" in member.labels:
                continue  # derived (``JobEvent.status``, ``PollPolicy.floor``), not a field
            parameter = _parameter(cls, member, kw_only)
            if parameter is not None:
                parameters.append(parameter)
        init = griffe.Function(
            "__init__",
            lineno=cls.lineno,
            endlineno=cls.lineno,
            parent=cls,
            parameters=griffe.Parameters(*parameters),
            returns="None",
        )
        cls.set_member("__init__", init)
