"""What each method's parameters may be, checked whenever a definition is saved (model clean, admin, command)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext

from segments.ml.features import ALL_BASE_FEATURES, CATEGORY_PREFIX
from segments.models import SegmentationMethod

DEFAULTS: dict[str, dict[str, Any]] = {
    SegmentationMethod.KMEANS: {"k": None, "k_max": 10, "sample_size": 5000, "seed": 42},
    SegmentationMethod.DBSCAN: {"eps": None, "min_samples": 10, "sample_size": 20000, "seed": 42},
    SegmentationMethod.RFM: {},
    SegmentationMethod.RULES: {"segments": []},
    SegmentationMethod.STATIC: {"external_ids": []},
}
COMMON = {"as_of", "top_categories"}


def _int(params: dict, key: str, *, low: int, high: int, optional: bool = False) -> None:
    value = params.get(key)
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError(
            {
                "parameters": gettext("%(key)s must be a whole number from %(low)s to %(high)s (got %(value)r).")
                % {"key": key, "low": low, "high": high, "value": value}
            }
        )


def clean_parameters(method: str, parameters: Any) -> dict:
    """The parameters with the method's defaults filled in, or a ValidationError saying what is wrong."""
    if not isinstance(parameters, dict):
        raise ValidationError({"parameters": gettext("Parameters must be a JSON object.")})
    if method not in DEFAULTS:
        raise ValidationError({"method": gettext("Unknown method %(method)r.") % {"method": method}})
    params = {**DEFAULTS[method], **parameters}
    unknown = set(params) - set(DEFAULTS[method]) - COMMON
    if unknown:
        allowed = ", ".join(sorted(set(DEFAULTS[method]) | COMMON))
        raise ValidationError(
            {
                "parameters": gettext("Unknown parameter(s) %(unknown)s for %(method)s; allowed: %(allowed)s.")
                % {"unknown": ", ".join(sorted(unknown)), "method": method, "allowed": allowed}
            }
        )
    if params.get("as_of") is not None:
        value = params["as_of"]
        if not isinstance(value, str) or not (parse_datetime(value) or parse_date(value)):
            raise ValidationError(
                {"parameters": gettext("as_of must be a date like 2025-12-31 (got %(value)r).") % {"value": value}}
            )
    if "top_categories" in params:
        _int(params, "top_categories", low=0, high=50)
    if method == SegmentationMethod.KMEANS:
        _int(params, "k", low=2, high=50, optional=True)
        _int(params, "k_max", low=2, high=30)
        _int(params, "sample_size", low=100, high=1_000_000)
        _int(params, "seed", low=0, high=2**31 - 1)
    elif method == SegmentationMethod.DBSCAN:
        eps = params.get("eps")
        if eps is not None and (isinstance(eps, bool) or not isinstance(eps, int | float) or eps <= 0):
            raise ValidationError(
                {
                    "parameters": gettext("eps must be a positive number, or empty to choose it (got %(eps)r).")
                    % {"eps": eps}
                }
            )
        _int(params, "min_samples", low=2, high=10_000)
        _int(params, "sample_size", low=100, high=1_000_000)
        _int(params, "seed", low=0, high=2**31 - 1)
    elif method == SegmentationMethod.RULES:
        from segments.rules import parse_rules_parameters

        parse_rules_parameters(params)
    elif method == SegmentationMethod.STATIC:
        ids = params.get("external_ids")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
            raise ValidationError(
                {"parameters": gettext("A static list needs external_ids: a non-empty list of customer ids.")}
            )
    return params


def clean_features(features: Any) -> list[str]:
    if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
        raise ValidationError({"features": gettext("Features must be a list of feature names.")})
    known = {*ALL_BASE_FEATURES, "category_shares"}
    for name in features:
        if name not in known and not (name.startswith(CATEGORY_PREFIX) and len(name) > len(CATEGORY_PREFIX)):
            raise ValidationError(
                {
                    "features": gettext("Unknown feature %(name)r; known: %(known)s, share_<category>.")
                    % {"name": name, "known": ", ".join(sorted(known))}
                }
            )
    return features
