"""Rule segments against the database: the fields a rule may name, and rules turned into querysets.

The JSON format, parsing and validation live in `segments.ml.rules` (pure). Here a parsed rule whose
fields are all customer fields, customer attributes or per-customer aggregates of interactions becomes
one SQL query (`customers_matching`); a rule naming a derived feature (return rate, category share...)
is evaluated on the feature frame instead (the service decides with `evaluable_in_database`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Avg, Count, FloatField, Max, Min, Q, QuerySet, Sum, Value
from django.db.models.functions import Cast, Coalesce, NullIf

from segments.ml.features import CATEGORY_PREFIX, HEAVY_TAILED, RATIOS
from segments.ml.rules import (
    ATTRIBUTE_PREFIX,
    NUMERIC_OPS,
    Condition,
    FieldType,
    Group,
    Rule,
    RuleError,
    conditions,
    parse_rule_segments,
)
from shop.models import Customer, InteractionKind

CUSTOMER_FIELDS: dict[str, FieldType] = {
    "external_id": "text",
    "email": "text",
    "name": "text",
    "gender": "text",
    "birth_year": "number",
    "city": "text",
    "postal_code": "text",
    "country": "text",
    "signed_up_at": "datetime",
    "created_at": "datetime",
    "is_stub": "bool",
    "email_consent": "bool",
    "sms_consent": "bool",
    "push_consent": "bool",
}


def _purchase(**extra) -> Q:
    return Q(interactions__kind=InteractionKind.PURCHASE, **extra)


def _amount(kind: str):
    return Coalesce(Sum(Cast("interactions__amount", FloatField()), filter=Q(interactions__kind=kind)), Value(0.0))


# Per-customer aggregates over interactions, computable in SQL.
AGGREGATES: dict[str, Any] = {
    "frequency": lambda: Count(
        Coalesce(NullIf("interactions__order_ref", Value("")), "interactions__event_id"),
        distinct=True,
        filter=_purchase(),
    ),
    "monetary": lambda: _amount(InteractionKind.PURCHASE) - _amount(InteractionKind.RETURN),
    "views": lambda: Count("interactions", filter=Q(interactions__kind=InteractionKind.VIEW)),
    "carts": lambda: Count("interactions", filter=Q(interactions__kind=InteractionKind.CART)),
    "purchases": lambda: Count("interactions", filter=_purchase()),
    "mean_rating": lambda: Avg("interactions__value", filter=Q(interactions__kind=InteractionKind.RATING)),
    "first_purchase_at": lambda: Min("interactions__occurred_at", filter=_purchase()),
    "last_purchase_at": lambda: Max("interactions__occurred_at", filter=_purchase()),
    "last_seen_at": lambda: Max("interactions__occurred_at"),
}
AGGREGATE_TYPES: dict[str, FieldType] = {
    name: ("datetime" if name.endswith("_at") else "number") for name in AGGREGATES
}
# Derived features: evaluated on the feature frame, not in SQL.
FEATURE_FIELDS: dict[str, FieldType] = {
    name: "number" for name in [*HEAVY_TAILED, *RATIOS, "age"] if name not in AGGREGATE_TYPES
}
RULE_FIELDS: dict[str, FieldType] = {**CUSTOMER_FIELDS, **AGGREGATE_TYPES, **FEATURE_FIELDS}


def rule_fields() -> dict[str, FieldType]:
    """Every field a rule may name; share_<category> stands for any category's share of spend."""
    return RULE_FIELDS


def _field_type(name: str) -> FieldType | None:
    if name.startswith(CATEGORY_PREFIX) and len(name) > len(CATEGORY_PREFIX):
        return "number"
    return None


def parse_rules_parameters(parameters: dict) -> list[tuple[str, Rule]]:
    """The named rules of a rules definition's parameters, or a ValidationError naming the bad condition."""
    fields = dict(RULE_FIELDS)
    data = parameters.get("segments") if isinstance(parameters, dict) else None
    if data is None:
        raise ValidationError({"parameters": 'A rules segmentation needs "segments": [{"name": ..., "rule": {...}}].'})
    _register_category_fields(data, fields)
    try:
        return parse_rule_segments({"segments": data}, fields=fields)
    except RuleError as exc:
        raise ValidationError({"parameters": str(exc)}) from exc


def _register_category_fields(data: Any, fields: dict[str, FieldType]) -> None:
    """share_<category> fields are open-ended: accept every one the rules mention."""
    if isinstance(data, dict):
        name = data.get("field")
        if isinstance(name, str) and _field_type(name):
            fields[name] = "number"
        for value in data.values():
            _register_category_fields(value, fields)
    elif isinstance(data, list):
        for item in data:
            _register_category_fields(item, fields)


def evaluable_in_database(rule: Rule) -> bool:
    for condition in conditions(rule):
        name = condition.field
        if name.startswith(ATTRIBUTE_PREFIX):
            # Substring vs list membership differ between SQL backends, and so does ordering JSON values: SQLite
            # puts the text "5" above every number, PostgreSQL's jsonb puts any string below. Attributes are
            # ordered as numbers in pandas instead, where "5" counts as 5 and "abc" as unknown.
            if condition.op == "contains" or condition.op in NUMERIC_OPS:
                return False
        elif name not in CUSTOMER_FIELDS and name not in AGGREGATES:
            return False
    return True


def _lookup(condition: Condition) -> str:
    if condition.field.startswith(ATTRIBUTE_PREFIX):
        return "attributes__" + condition.field[len(ATTRIBUTE_PREFIX) :].replace(".", "__")
    return condition.field


def _parse_time(value: str) -> datetime:
    from django.utils.dateparse import parse_date, parse_datetime
    from django.utils.timezone import is_naive, make_aware

    parsed = parse_datetime(value) or datetime.combine(parse_date(value), datetime.min.time())
    return make_aware(parsed) if is_naive(parsed) else parsed


def condition_q(condition: Condition, *, as_of: datetime) -> Q:
    field = _lookup(condition)
    op, value = condition.op, condition.value
    if condition.type == "datetime" and op != "within":
        value = [_parse_time(v) for v in value] if op == "between" else _parse_time(value)
    known = Q(**{f"{field}__isnull": False})
    if op == "eq":
        return Q(**{field: value}) & known
    if op == "ne":
        return ~Q(**{field: value}) & known
    if op in {"lt", "gt"}:
        return Q(**{f"{field}__{op}": value})
    if op in {"le", "ge"}:
        return Q(**{f"{field}__{op[0]}te": value})
    if op == "in":
        return Q(**{f"{field}__in": value})
    if op == "between":
        return Q(**{f"{field}__gte": value[0], f"{field}__lte": value[1]})
    if op == "contains":
        return Q(**{f"{field}__icontains": value})
    return Q(**{f"{field}__gte": as_of - timedelta(days=float(value))})  # within the last N days


def rule_q(rule: Rule, *, as_of: datetime) -> Q:
    if isinstance(rule, Condition):
        return condition_q(rule, as_of=as_of)
    assert isinstance(rule, Group)
    parts = [rule_q(child, as_of=as_of) for child in rule.children]
    combined = parts[0]
    for part in parts[1:]:
        combined = (combined & part) if rule.combinator == "all" else (combined | part)
    return combined


def customers_matching(rule: Rule, *, as_of: datetime) -> QuerySet:
    """Customers the rule selects, as one query (aggregates annotated only when the rule names them)."""
    names = {c.field for c in conditions(rule) if c.field in AGGREGATES}
    queryset = Customer.objects.all()
    if names:
        queryset = queryset.annotate(**{name: AGGREGATES[name]() for name in names})
    return queryset.filter(rule_q(rule, as_of=as_of)).order_by().values_list("pk", flat=True)
