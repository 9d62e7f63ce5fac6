"""Event filtering as Lambda (FilterCriteria) and SNS (FilterPolicy) do it: EventBridge patterns.

A pattern is a JSON object whose leaves are arrays of alternatives; an event matches when every
key of the pattern matches. An alternative is a literal (string, number, boolean, null: exact
match) or one of the content filters ``prefix``, ``suffix``, ``equals-ignore-case``,
``anything-but``, ``numeric``, ``exists``, ``wildcard``. An array in the event matches when any
of its elements does. Pure functions, no I/O.
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any

__all__ = ["FilterError", "matches", "matches_any", "parse_filter_criteria"]

_MISSING = object()


class FilterError(ValueError):
    """A pattern Lambda or SNS would refuse."""


def parse_filter_criteria(criteria: Any) -> list[dict[str, Any]]:
    """``FilterCriteria: {Filters: [{Pattern: "<json>"}]}`` -> the list of pattern objects."""
    if not criteria:
        return []
    patterns = []
    for entry in criteria.get("Filters") or []:
        raw = entry.get("Pattern")
        pattern = json.loads(raw) if isinstance(raw, str) else raw
        if not isinstance(pattern, dict):
            raise FilterError(f"a filter pattern must be a JSON object, not {raw!r}")
        patterns.append(pattern)
    return patterns


def matches_any(patterns: list[dict[str, Any]], event: Any) -> bool:
    """Lambda's rule for several filters: a record passes when any one of them matches."""
    return not patterns or any(matches(p, event) for p in patterns)


def matches(pattern: dict[str, Any], event: Any) -> bool:
    """Does ``event`` match ``pattern`` (every key of the pattern)?"""
    for key, expected in pattern.items():
        value = event.get(key, _MISSING) if isinstance(event, dict) else _MISSING
        if isinstance(expected, dict):
            if value is _MISSING or not isinstance(value, dict):
                # A nested pattern under a missing object can still match by "exists": false.
                if not _all_absent_ok(expected):
                    return False
                continue
            if not matches(expected, value):
                return False
        elif isinstance(expected, list):
            if not _leaf(expected, value):
                return False
        else:
            raise FilterError(f"pattern value for {key!r} must be an array or an object")
    return True


def _all_absent_ok(pattern: dict[str, Any]) -> bool:
    for expected in pattern.values():
        if isinstance(expected, dict):
            if not _all_absent_ok(expected):
                return False
        elif not any(_is_exists_false(alt) for alt in expected):
            return False
    return True


def _is_exists_false(alt: Any) -> bool:
    return isinstance(alt, dict) and alt.get("exists") is False


def _leaf(alternatives: list[Any], value: Any) -> bool:
    if value is _MISSING:
        return any(_is_exists_false(alt) for alt in alternatives)
    values = value if isinstance(value, list) else [value]
    for alt in alternatives:
        if isinstance(alt, dict):
            if _content(alt, values):
                return True
        elif any(_equal(alt, v) for v in values):
            return True
    return False


def _equal(expected: Any, value: Any) -> bool:
    if isinstance(expected, bool) or isinstance(value, bool):
        return expected is value
    if _is_number(expected) and _is_number(value):
        return float(expected) == float(value)
    return bool(expected == value)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _content(alt: dict[str, Any], values: list[Any]) -> bool:
    if len(alt) != 1:
        raise FilterError(f"a content filter has exactly one key: {alt!r}")
    ((op, arg),) = alt.items()
    if op == "exists":
        return bool(arg)  # the key is present (absence is handled before we get here)
    if op == "prefix":
        if isinstance(arg, dict):  # {"prefix": {"equals-ignore-case": "x"}}
            p = str(arg.get("equals-ignore-case", "")).lower()
            return any(isinstance(v, str) and v.lower().startswith(p) for v in values)
        return any(isinstance(v, str) and v.startswith(arg) for v in values)
    if op == "suffix":
        if isinstance(arg, dict):
            s = str(arg.get("equals-ignore-case", "")).lower()
            return any(isinstance(v, str) and v.lower().endswith(s) for v in values)
        return any(isinstance(v, str) and v.endswith(arg) for v in values)
    if op == "equals-ignore-case":
        return any(isinstance(v, str) and v.lower() == str(arg).lower() for v in values)
    if op == "wildcard":
        return any(isinstance(v, str) and fnmatch.fnmatchcase(v, arg) for v in values)
    if op == "numeric":
        return any(_is_number(v) and _numeric(arg, float(v)) for v in values)
    if op == "anything-but":
        return all(not _anything_but_hits(arg, v) for v in values)
    raise FilterError(f"unsupported content filter {op!r}")


def _anything_but_hits(arg: Any, value: Any) -> bool:
    """True when ``value`` is one of the things ``anything-but`` excludes."""
    if isinstance(arg, dict):
        if "prefix" in arg:
            return isinstance(value, str) and value.startswith(arg["prefix"])
        if "suffix" in arg:
            return isinstance(value, str) and value.endswith(arg["suffix"])
        if "equals-ignore-case" in arg:
            options = arg["equals-ignore-case"]
            options = options if isinstance(options, list) else [options]
            return isinstance(value, str) and value.lower() in {str(o).lower() for o in options}
        raise FilterError(f"unsupported anything-but filter {arg!r}")
    options = arg if isinstance(arg, list) else [arg]
    return any(_equal(o, value) for o in options)


_OPS = {
    "=": lambda a, b: a == b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _numeric(spec: list[Any], value: float) -> bool:
    if len(spec) % 2:
        raise FilterError(f"numeric filter needs operator/value pairs: {spec!r}")
    for i in range(0, len(spec), 2):
        op, bound = spec[i], spec[i + 1]
        if op not in _OPS or not _is_number(bound):
            raise FilterError(f"bad numeric comparison {op!r} {bound!r}")
        if not _OPS[op](value, float(bound)):
            return False
    return True
