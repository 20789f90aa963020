"""Rule segments: conditions on features and customer attributes, nested AND / OR, stored as JSON.

    {"all": [
        {"field": "country", "op": "=", "value": "United Kingdom"},
        {"any": [{"field": "monetary", "op": ">", "value": 1000},
                 {"field": "frequency", "op": "between", "value": [5, 20]}]},
        {"field": "last_purchase_at", "op": "within_last_days", "value": 90}
    ]}

Parsed into a small tree (never eval'd), validated against the known fields with a message naming
the bad condition by its path ("all[1].any[0]"), and evaluated on a DataFrame here; the service
translates the same tree into a database query where every field is a database field.

A condition on a value the customer does not have (no purchase yet, unknown age...) is false,
whatever the operator, "≠" included. Attributes (imported from CSV, so often text) are ordered as
numbers: with <, ≤, >, ≥ and between, "5" counts as 5 and a value that is no number ("abc", a list)
is unknown, so it falls on neither side of a threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

import numpy as np
import pandas as pd

FieldType = Literal["number", "text", "datetime", "bool", "any"]

OPERATORS = {
    "=": "eq",
    "==": "eq",
    "!=": "ne",
    "≠": "ne",
    "<": "lt",
    "<=": "le",
    "≤": "le",
    ">": "gt",
    ">=": "ge",
    "≥": "ge",
    "in": "in",
    "between": "between",
    "contains": "contains",
    "within_last_days": "within",
    "within the last days": "within",
}
SYMBOLS = {"eq": "=", "ne": "≠", "lt": "<", "le": "≤", "gt": ">", "ge": "≥", "in": "in", "between": "between"}
SYMBOLS.update(contains="contains", within="within the last N days")
ALLOWED = {
    "number": {"eq", "ne", "lt", "le", "gt", "ge", "in", "between"},
    "text": {"eq", "ne", "in", "contains"},
    "datetime": {"lt", "le", "gt", "ge", "between", "within"},
    "bool": {"eq", "ne"},
    "any": {"eq", "ne", "lt", "le", "gt", "ge", "in", "between", "contains"},
}
ATTRIBUTE_PREFIX = "attributes."
MAX_DEPTH = 10
MAX_WITHIN_DAYS = 36_500  # a century: more is a typo, and far more overflows date arithmetic
# Attributes are compared by order as numbers ("5" < 25 once coerced), never as text or mixed types.
NUMERIC_OPS = {"lt", "le", "gt", "ge", "between"}


class RuleError(ValueError):
    """A rule that cannot be used; the message names the condition (by path) and what is wrong."""


@dataclass(frozen=True)
class Condition:
    path: str
    field: str
    op: str  # canonical: eq, ne, lt, le, gt, ge, in, between, contains, within
    value: Any
    type: FieldType

    def describe(self) -> str:
        return f"{self.field} {SYMBOLS[self.op]} {self.value!r}"


@dataclass(frozen=True)
class Group:
    path: str
    combinator: Literal["all", "any"]
    children: tuple[Condition | Group, ...]


Rule = Condition | Group


def field_type(name: str, fields: dict[str, FieldType]) -> FieldType | None:
    if name.startswith(ATTRIBUTE_PREFIX) and len(name) > len(ATTRIBUTE_PREFIX):
        return "any"
    return fields.get(name)


def parse_rule(data: Any, *, fields: dict[str, FieldType], path: str = "rule", depth: int = 0) -> Rule:
    """The rule tree for JSON `data`, or RuleError naming the first bad condition."""
    if depth > MAX_DEPTH:
        raise RuleError(f"{path}: rules nest at most {MAX_DEPTH} levels deep")
    if not isinstance(data, dict):
        raise RuleError(
            f'{path}: expected an object like {{"all": [...]}} or {{"field": ..., "op": ..., "value": ...}}'
        )
    groups = [key for key in ("all", "any") if key in data]
    if groups:
        if len(data) != 1:
            raise RuleError(f"{path}: a group has exactly one key, 'all' or 'any' (found {sorted(data)})")
        combinator = groups[0]
        items = data[combinator]
        if not isinstance(items, list) or not items:
            raise RuleError(f"{path}.{combinator}: expected a non-empty list of conditions")
        children = tuple(
            parse_rule(item, fields=fields, path=f"{path}.{combinator}[{i}]", depth=depth + 1)
            for i, item in enumerate(items)
        )
        return Group(path=path, combinator=combinator, children=children)
    return _parse_condition(data, fields=fields, path=path)


def _parse_condition(data: dict, *, fields: dict[str, FieldType], path: str) -> Condition:
    unknown_keys = set(data) - {"field", "op", "value"}
    if unknown_keys or "field" not in data or "op" not in data:
        raise RuleError(f"{path}: a condition has 'field', 'op' and 'value' (got {sorted(data)})")
    name, raw_op, value = data["field"], data["op"], data.get("value")
    where = f"{path} ({name} {raw_op} {value!r})"
    if not isinstance(name, str):
        raise RuleError(f"{where}: field must be a string")
    kind = field_type(name, fields)
    if kind is None:
        raise RuleError(f"{where}: unknown field {name!r}; known fields: {', '.join(sorted(fields))}, attributes.<key>")
    op = OPERATORS.get(raw_op) if isinstance(raw_op, str) else None
    if op is None:
        raise RuleError(
            f"{where}: unknown operator {raw_op!r}; use =, ≠, <, ≤, >, ≥, in, between, contains, within_last_days"
        )
    if op not in ALLOWED[kind]:
        allowed = ", ".join(SYMBOLS[o] for o in sorted(ALLOWED[kind]))
        raise RuleError(f"{where}: operator {raw_op!r} does not apply to {kind} field {name!r} (use {allowed})")
    value = _check_value(value, op=op, kind=kind, where=where)
    return Condition(path=path, field=name, op=op, value=value, type=kind)


def _scalar(value: Any, *, kind: FieldType, where: str) -> Any:
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
            raise RuleError(f"{where}: value must be a number")
        return value
    if kind == "datetime":
        if not isinstance(value, str):
            raise RuleError(f"{where}: value must be a date like '2025-01-31'")
        try:
            parsed = pd.Timestamp(value)
        except (ValueError, TypeError):
            raise RuleError(f"{where}: {value!r} is not a date like '2025-01-31'") from None
        if pd.isna(parsed):
            raise RuleError(f"{where}: {value!r} is not a date like '2025-01-31'")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise RuleError(f"{where}: value must be true or false")
        return value
    if kind == "text":
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise RuleError(f"{where}: value must be text")
        return str(value)
    if value is None or isinstance(value, dict | list):
        raise RuleError(f"{where}: value must be a number, text or true/false")
    return value


def _check_value(value: Any, *, op: str, kind: FieldType, where: str) -> Any:
    if op == "within":
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= MAX_WITHIN_DAYS:
            raise RuleError(
                f"{where}: 'within the last N days' needs a positive number of days, at most {MAX_WITHIN_DAYS}"
            )
        return value
    if kind == "any" and op in NUMERIC_OPS:
        kind = "number"  # attribute values are coerced to numbers to be ordered, so the bounds must be numbers
    if op == "in":
        if not isinstance(value, list) or not value:
            raise RuleError(f"{where}: 'in' needs a non-empty list of values")
        return [_scalar(v, kind=kind, where=where) for v in value]
    if op == "between":
        if not isinstance(value, list) or len(value) != 2:
            raise RuleError(f"{where}: 'between' needs a list of two values [low, high]")
        low, high = (_scalar(v, kind=kind, where=where) for v in value)
        if _comparable(low, kind) > _comparable(high, kind):
            raise RuleError(f"{where}: 'between' needs low ≤ high")
        return [low, high]
    if op == "contains":
        if not isinstance(value, str) or not value:
            raise RuleError(f"{where}: 'contains' needs non-empty text")
        return value
    return _scalar(value, kind=kind, where=where)


def _comparable(value: Any, kind: FieldType) -> Any:
    return pd.Timestamp(value) if kind == "datetime" else value


def conditions(rule: Rule) -> list[Condition]:
    if isinstance(rule, Condition):
        return [rule]
    return [c for child in rule.children for c in conditions(child)]


def rule_fields(rule: Rule) -> set[str]:
    return {c.field for c in conditions(rule)}


def _timestamp(value: Any) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _number(value: Any) -> float:
    """An attribute value as a number: 5, 5.0 and "5" alike; text that is no number, lists, true/false: NaN."""
    if isinstance(value, bool) or value is None:
        return np.nan
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return np.nan
    return np.nan


def _evaluate_condition(condition: Condition, frame: pd.DataFrame, *, today: datetime | date) -> pd.Series:
    if condition.field not in frame.columns:
        return pd.Series(False, index=frame.index)
    column = frame[condition.field]
    known = column.notna()
    op, value, kind = condition.op, condition.value, condition.type
    if kind == "datetime":
        column = pd.to_datetime(column, utc=True)
        if op == "within":
            value = _timestamp(today) - timedelta(days=float(value))
            op = "ge"
        elif op == "between":
            value = [_timestamp(v) for v in value]
        else:
            value = _timestamp(value)
    elif kind == "text":
        column = column.astype("string")
    elif kind == "any" and op in NUMERIC_OPS:
        column = column.map(_number).astype(float)
        known = column.notna()
    if op == "eq":
        result = column == value
    elif op == "ne":
        result = column != value
    elif op == "lt":
        result = column < value
    elif op == "le":
        result = column <= value
    elif op == "gt":
        result = column > value
    elif op == "ge":
        result = column >= value
    elif op == "in":
        result = column.isin(value)
    elif op == "between":
        result = (column >= value[0]) & (column <= value[1])
    else:  # contains: case-insensitive substring of text, or membership of a list attribute
        needle = str(value).lower()
        result = column.map(
            lambda v: any(str(x).lower() == needle for x in v) if isinstance(v, list) else needle in str(v).lower()
        )
    return (result.fillna(False).astype(bool)) & known


def evaluate_rule(rule: Rule, frame: pd.DataFrame, *, today: datetime | date) -> pd.Series:
    """Boolean Series over frame's rows: which customers the rule selects."""
    if isinstance(rule, Condition):
        return _evaluate_condition(rule, frame, today=today)
    parts = [evaluate_rule(child, frame, today=today) for child in rule.children]
    result = parts[0]
    for part in parts[1:]:
        result = (result & part) if rule.combinator == "all" else (result | part)
    return result


def parse_rule_segments(data: Any, *, fields: dict[str, FieldType]) -> list[tuple[str, Rule]]:
    """The (name, rule) list of a rules segmentation: {"segments": [{"name": ..., "rule": {...}}, ...]}
    or one bare rule (a single segment named "Matching customers")."""
    if isinstance(data, dict) and "segments" in data:
        items = data["segments"]
        if not isinstance(items, list) or not items:
            raise RuleError('segments: expected a non-empty list of {"name": ..., "rule": {...}}')
        result = []
        names: set[str] = set()
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"].strip():
                raise RuleError(f"segments[{i}]: each segment needs a 'name' and a 'rule'")
            if "rule" not in item:
                raise RuleError(f"segments[{i}] ({item['name']}): missing 'rule'")
            name = item["name"].strip()
            if name in names:
                raise RuleError(f"segments[{i}]: the name {name!r} is used twice")
            names.add(name)
            result.append((name, parse_rule(item["rule"], fields=fields, path=f"segments[{i}] ({name})")))
        return result
    return [("Matching customers", parse_rule(data, fields=fields))]
