"""CloudFormation YAML and intrinsic functions, without any knowledge of resource types.

``load_yaml`` reads a template with the short tags (``!Ref``, ``!GetAtt A.B``, ``!Sub`` ...) turned
into their long forms, so the rest of the loader sees one shape. :class:`Resolver` evaluates
intrinsics against parameters, pseudo parameters, mappings and conditions; what a resource's
``Ref`` or ``GetAtt`` returns is asked of the caller (``template.py``), which knows physical ids.
Errors are :class:`IntrinsicError` carrying the property path, so the caller can name the resource.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "NO_VALUE",
    "IntrinsicError",
    "Resolver",
    "load_yaml",
    "scalar_str",
]


class IntrinsicError(Exception):
    """An intrinsic the local stack cannot evaluate; ``path`` is where in the resource it sits."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class _NoValue:
    """``AWS::NoValue``: the property (or list item) it stands in is removed."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE: Any = _NoValue()


# --------------------------------------------------------------------------------------------------
# YAML
# --------------------------------------------------------------------------------------------------


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader with CloudFormation's tags, and without YAML 1.1 timestamps.

    CloudFormation keeps ``AWSTemplateFormatVersion: 2010-09-09`` a string; PyYAML would make it a
    ``date``.
    """


_CfnLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

_FN_TAGS = (
    "And",
    "Base64",
    "Cidr",
    "Equals",
    "FindInMap",
    "GetAZs",
    "If",
    "ImportValue",
    "Join",
    "Length",
    "Not",
    "Or",
    "Select",
    "Split",
    "Sub",
    "ToJsonString",
    "Transform",
)


def _node_value(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    assert isinstance(node, yaml.MappingNode)
    return loader.construct_mapping(node, deep=True)


def _fn_constructor(name: str) -> Callable[[yaml.SafeLoader, yaml.Node], dict[str, Any]]:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        return {f"Fn::{name}": _node_value(loader, node)}

    return construct


def _ref(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
    return {"Ref": _node_value(loader, node)}


def _condition(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
    return {"Condition": _node_value(loader, node)}


def _get_att(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
    value = _node_value(loader, node)
    if isinstance(value, str):
        # Attribute names may hold dots themselves (Endpoint.Address): split on the first only.
        logical, _, attribute = value.partition(".")
        value = [logical, attribute]
    return {"Fn::GetAtt": value}


for _name in _FN_TAGS:
    _CfnLoader.add_constructor(f"!{_name}", _fn_constructor(_name))
_CfnLoader.add_constructor("!Ref", _ref)
_CfnLoader.add_constructor("!Condition", _condition)
_CfnLoader.add_constructor("!GetAtt", _get_att)


def load_yaml(source: str | Path) -> Any:
    """Parse a template (YAML or JSON, a path or the text itself) into plain data."""
    text = source.read_text(encoding="utf-8") if isinstance(source, Path) else source
    return yaml.load(text, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass


# --------------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------------


def scalar_str(value: Any) -> str:
    """A scalar as CloudFormation would write it into a string property (``true``, ``5``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")

_UNSUPPORTED = {
    "Fn::Cidr": "needs real VPC address ranges",
    "Fn::ImportValue": "reads outputs of other stacks, which do not exist locally",
    "Fn::Transform": "runs CloudFormation macros",
    "Fn::ForEach": "needs the AWS::LanguageExtensions transform",
}


class Resolver:
    """Evaluates intrinsic functions.

    ``ref_resource(logical_id)`` and ``get_att(logical_id, attribute)`` answer for resources;
    ``is_resource(logical_id)`` tells a resource from an unknown name. They raise
    :class:`IntrinsicError` (or ``LookupError``) for what they cannot answer.
    """

    def __init__(
        self,
        *,
        parameters: Mapping[str, Any],
        pseudo: Mapping[str, Any],
        mappings: Mapping[str, Any],
        conditions: Mapping[str, Any],
        is_resource: Callable[[str], bool],
        ref_resource: Callable[[str], Any],
        get_att: Callable[[str, str], Any],
        region: str,
    ) -> None:
        self._parameters = parameters
        self._pseudo = pseudo
        self._mappings = mappings
        self._conditions = conditions
        self._is_resource = is_resource
        self._ref_resource = ref_resource
        self._get_att = get_att
        self._region = region
        self._condition_values: dict[str, bool] = {}
        self._evaluating: list[str] = []

    # --- conditions -------------------------------------------------------------------------------

    def condition(self, name: str, path: str = "Condition") -> bool:
        """The value of a named condition (evaluated once, cycles refused)."""
        if not isinstance(name, str) or name not in self._conditions:
            known = ", ".join(sorted(self._conditions)) or "none"
            raise IntrinsicError(path, f"unknown condition {name!r} (the template has: {known})")
        if name in self._condition_values:
            return self._condition_values[name]
        if name in self._evaluating:
            cycle = " -> ".join([*self._evaluating, name])
            raise IntrinsicError(f"Conditions.{name}", f"conditions refer to each other: {cycle}")
        self._evaluating.append(name)
        try:
            value = self.evaluate_condition(self._conditions[name], f"Conditions.{name}")
        finally:
            self._evaluating.pop()
        self._condition_values[name] = value
        return value

    def evaluate_condition(self, expression: Any, path: str) -> bool:
        """A condition expression (``Fn::Equals``, ``Fn::And``, ``{"Condition": name}`` ...)."""
        if isinstance(expression, dict) and len(expression) == 1:
            ((key, arg),) = expression.items()
            if key == "Condition":
                return self.condition(arg, path)
            if key in ("Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or", "Fn::Contains"):
                value = self._function(key, arg, path)
                assert isinstance(value, bool)
                return value
        value = self.resolve(expression, path)
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise IntrinsicError(path, f"expected a condition (true or false), got {value!r}")

    # --- values -----------------------------------------------------------------------------------

    def resolve(self, value: Any, path: str) -> Any:
        """``value`` with every intrinsic evaluated; ``NO_VALUE`` entries are dropped."""
        if isinstance(value, dict):
            if len(value) == 1:
                ((key, arg),) = value.items()
                if key == "Ref":
                    return self._ref(arg, path)
                if isinstance(key, str) and key.startswith("Fn::"):
                    return self._function(key, arg, path)
            out: dict[str, Any] = {}
            for key, item in value.items():
                resolved = self.resolve(item, f"{path}.{key}")
                if resolved is not NO_VALUE:
                    out[key] = resolved
            return out
        if isinstance(value, list):
            items = (self.resolve(item, f"{path}[{i}]") for i, item in enumerate(value))
            return [item for item in items if item is not NO_VALUE]
        return value

    def _ref(self, name: Any, path: str) -> Any:
        if not isinstance(name, str):
            raise IntrinsicError(path, f"Ref needs a name, got {name!r}")
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self._pseudo:
            return self._pseudo[name]
        if name in self._parameters:
            return self._parameters[name]
        if self._is_resource(name):
            try:
                return self._ref_resource(name)
            except LookupError as error:
                raise IntrinsicError(path, str(error.args[0])) from None
        if name.startswith("AWS::"):
            raise IntrinsicError(path, f"pseudo parameter {name} is not supported locally")
        raise IntrinsicError(
            path, f"Ref to {name!r}, which is neither a parameter nor a resource of this template"
        )

    def _function(self, key: str, arg: Any, path: str) -> Any:
        if key in _UNSUPPORTED:
            raise IntrinsicError(path, f"{key} is not supported locally ({_UNSUPPORTED[key]})")
        handler = getattr(self, "_fn_" + key[4:].lower(), None)
        if handler is None:
            raise IntrinsicError(path, f"unknown intrinsic function {key}")
        return handler(arg, path)

    def _args(self, arg: Any, path: str, count: int, name: str) -> list[Any]:
        if not isinstance(arg, list) or len(arg) != count:
            raise IntrinsicError(path, f"{name} takes a list of {count} arguments, got {arg!r}")
        return arg

    def _string(self, value: Any, path: str) -> str:
        resolved = self.resolve(value, path)
        if isinstance(resolved, dict | list) or resolved is NO_VALUE:
            raise IntrinsicError(path, f"expected a string, got {resolved!r}")
        return scalar_str(resolved)

    def _list(self, value: Any, path: str) -> list[Any]:
        resolved = self.resolve(value, path)
        if not isinstance(resolved, list):
            raise IntrinsicError(path, f"expected a list, got {resolved!r}")
        return resolved

    # Each _fn_<name> implements Fn::<Name>.

    def _fn_if(self, arg: Any, path: str) -> Any:
        name, when_true, when_false = self._args(arg, path, 3, "Fn::If")
        chosen = when_true if self.condition(name, path) else when_false
        return self.resolve(chosen, path)

    def _fn_equals(self, arg: Any, path: str) -> bool:
        left, right = self._args(arg, path, 2, "Fn::Equals")
        return _comparable(self.resolve(left, path)) == _comparable(self.resolve(right, path))

    def _fn_not(self, arg: Any, path: str) -> bool:
        (expression,) = self._args(arg, path, 1, "Fn::Not")
        return not self.evaluate_condition(expression, path)

    def _fn_and(self, arg: Any, path: str) -> bool:
        if not isinstance(arg, list) or not arg:
            raise IntrinsicError(path, "Fn::And takes a list of conditions")
        return all(self.evaluate_condition(item, f"{path}[{i}]") for i, item in enumerate(arg))

    def _fn_or(self, arg: Any, path: str) -> bool:
        if not isinstance(arg, list) or not arg:
            raise IntrinsicError(path, "Fn::Or takes a list of conditions")
        return any(self.evaluate_condition(item, f"{path}[{i}]") for i, item in enumerate(arg))

    def _fn_contains(self, arg: Any, path: str) -> bool:
        items, value = self._args(arg, path, 2, "Fn::Contains")
        wanted = _comparable(self.resolve(value, path))
        return any(_comparable(item) == wanted for item in self._list(items, path))

    def _fn_sub(self, arg: Any, path: str) -> str:
        if isinstance(arg, list):
            text, variables = self._args(arg, path, 2, "Fn::Sub")
            if not isinstance(variables, dict):
                raise IntrinsicError(path, "the second argument of Fn::Sub must be a mapping")
        else:
            text, variables = arg, {}
        if not isinstance(text, str):
            raise IntrinsicError(path, f"Fn::Sub needs a string, got {text!r}")

        def replace(match: re.Match[str]) -> str:
            name = match.group(1).strip()
            if name.startswith("!"):
                return "${" + name[1:] + "}"  # ${!Literal} stays literal
            if name in variables:
                return self._string(variables[name], f"{path}.{name}")
            if "." in name and not name.startswith("AWS::"):
                logical, _, attribute = name.partition(".")
                return self._string({"Fn::GetAtt": [logical, attribute]}, path)
            return self._string({"Ref": name}, path)

        return _SUB_VARIABLE.sub(replace, text)

    def _fn_getatt(self, arg: Any, path: str) -> Any:
        if isinstance(arg, str):
            logical, _, attribute = arg.partition(".")
        else:
            logical, attribute = self._args(arg, path, 2, "Fn::GetAtt")
            attribute = self._string(attribute, path)
        if not isinstance(logical, str) or not self._is_resource(logical):
            raise IntrinsicError(path, f"Fn::GetAtt on {logical!r}, which is not a resource")
        try:
            return self._get_att(logical, attribute)
        except LookupError as error:
            raise IntrinsicError(path, str(error.args[0])) from None

    def _fn_join(self, arg: Any, path: str) -> str:
        delimiter, items = self._args(arg, path, 2, "Fn::Join")
        parts = self._list(items, path)
        return scalar_str(delimiter).join(self._string(part, path) for part in parts)

    def _fn_select(self, arg: Any, path: str) -> Any:
        index, items = self._args(arg, path, 2, "Fn::Select")
        position = self._string(index, path)
        values = self._list(items, path)
        if not position.isdigit() or int(position) >= len(values):
            raise IntrinsicError(
                path, f"Fn::Select index {position} outside a list of {len(values)}"
            )
        return values[int(position)]

    def _fn_split(self, arg: Any, path: str) -> list[str]:
        delimiter, text = self._args(arg, path, 2, "Fn::Split")
        return self._string(text, path).split(scalar_str(delimiter))

    def _fn_findinmap(self, arg: Any, path: str) -> Any:
        if not isinstance(arg, list) or len(arg) not in (3, 4):
            raise IntrinsicError(path, "Fn::FindInMap takes [map, top-level key, second key]")
        name, top, second = (self._string(item, path) for item in arg[:3])
        try:
            return self._mappings[name][top][second]
        except (KeyError, TypeError):
            if len(arg) == 4 and isinstance(arg[3], dict) and "DefaultValue" in arg[3]:
                return self.resolve(arg[3]["DefaultValue"], path)
            raise IntrinsicError(path, f"Mappings has no {name}.{top}.{second}") from None

    def _fn_getazs(self, arg: Any, path: str) -> list[str]:
        region = self._string(arg, path) if arg not in ("", None) else self._region
        return [f"{region}{zone}" for zone in "abc"]

    def _fn_base64(self, arg: Any, path: str) -> str:
        return base64.b64encode(self._string(arg, path).encode()).decode()

    def _fn_length(self, arg: Any, path: str) -> int:
        return len(self._list(arg, path))

    def _fn_tojsonstring(self, arg: Any, path: str) -> str:
        return json.dumps(self.resolve(arg, path), separators=(",", ":"))


def _comparable(value: Any) -> Any:
    if isinstance(value, list):
        return [_comparable(item) for item in value]
    if isinstance(value, dict):
        return value
    return scalar_str(value)
