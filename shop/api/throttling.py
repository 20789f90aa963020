"""One request counter per caller (API client, or staff member), shared by every endpoint and every process.

The counter is a fixed one-minute (or second, hour, day) window in the shared cache: Redis in production, so
a client limited to 10/minute gets 10 answers a minute however many web processes serve it. DRF views count
through `ApiKeyRateThrottle`; the lean recommendation views through `shop.api.access.admit`; both call
`throttle_wait`.
"""

import math
import time

from django.core.cache import cache
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from shop.models import ApiClient

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_parsed: dict[str, tuple[int, int]] = {}


def parse_rate(rate: str) -> tuple[int, int]:
    """'600/minute' -> (600, 60). Periods: second, minute, hour, day (or their first letter)."""
    parsed = _parsed.get(rate)
    if parsed is None:
        count, _, period = rate.partition("/")
        parsed = _parsed[rate] = (int(count), PERIODS[period.strip()[0]])
    return parsed


def caller_rate(*, client: ApiClient | None, user) -> tuple[str, str | None]:
    """(counter name, rate) for a request: a client's own rate or its scope's default rate."""
    rates = api_settings.DEFAULT_THROTTLE_RATES
    if client is not None:
        return f"client-{client.pk}", client.throttle_rate or rates.get("api_key")
    return f"user-{user.pk}", rates.get("staff")


def throttle_wait(*, ident: str, rate: str | None) -> float | None:
    """Count one request for `ident`; None when it is within `rate`, else the seconds until the window ends."""
    if not rate:
        return None
    limit, period = parse_rate(rate)
    now = time.time()
    window = int(now // period)
    key = f"throttle:{ident}:{period}:{window}"
    if cache.add(key, 1, period + 1):
        count = 1
    else:
        try:
            count = cache.incr(key)
        except ValueError:  # expired between the two calls
            cache.add(key, 1, period + 1)
            count = 1
    if count <= limit:
        return None
    return float(max(1, math.ceil((window + 1) * period - now)))


class ApiKeyRateThrottle(BaseThrottle):
    """DRF's side of the shared counter: a 429 with Retry-After once a caller is over its rate."""

    def allow_request(self, request, view):
        client = request.auth if isinstance(request.auth, ApiClient) else None
        user = request.user
        if client is None and not (user and user.is_authenticated):
            self._wait = None  # refused by the permission check already; nothing to count
            return True
        ident, rate = caller_rate(client=client, user=user)
        self._wait = throttle_wait(ident=ident, rate=rate)
        return self._wait is None

    def wait(self):
        return self._wait
