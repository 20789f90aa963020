"""Recommender settings with their defaults, read once per process (and again when tests change settings).

getattr(settings, NAME, default) on a setting that is not defined costs an exception each time; on the
serving path, per request, that adds up.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

DEFAULTS: dict[str, Any] = {
    "RECOMMENDER_REFRESH_SECONDS": 1.0,
    "RECOMMENDER_CATALOG_REFRESH_SECONDS": 2.0,
    "RECOMMENDER_MAX_PER_CATEGORY": None,
    "RECOMMENDER_LOG_SERVED": True,
    "RECOMMENDER_LOG_BATCH": 500,
    "RECOMMENDER_LOG_FLUSH_SECONDS": 5.0,
    # Local folder for artifacts copied from a remote storage (None: the system's temporary folder).
    "RECOMMENDER_ARTIFACT_CACHE": None,
}
_values: dict[str, Any] = {}


def setting(name: str, default: Any = None) -> Any:
    try:
        return _values[name]
    except KeyError:
        value = _values[name] = getattr(settings, name, DEFAULTS.get(name, default))
        return value


@receiver(setting_changed)
def _forget(**kwargs) -> None:
    _values.clear()
