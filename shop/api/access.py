"""The key, scope and throttle checks of every API operation, as one function for views that skip DRF.

DRF views run the same steps through the classes set in REST_FRAMEWORK (ApiKeyAuthentication,
IsApiClientOrStaff, ApiKeyRateThrottle), which call the same functions in the same order.
"""

from rest_framework import exceptions

from shop.api.authentication import authenticate_api_key
from shop.api.permissions import AUTH_REQUIRED, check_scope, is_staff_session
from shop.api.throttling import caller_rate, throttle_wait
from shop.models import ApiClient


def admit(request, *, scope: str | None) -> ApiClient | None:
    """The calling client (None for a staff session) once its key, scope and rate allow the request.

    Raises AuthenticationFailed / NotAuthenticated (401), PermissionDenied (403, naming the missing scope)
    or Throttled (429, with the seconds to wait).
    """
    client = authenticate_api_key(request.META)
    user = getattr(request, "user", None)
    if client is not None:
        check_scope(client, scope)
    elif not (user and user.is_authenticated):
        raise exceptions.NotAuthenticated(AUTH_REQUIRED)
    elif not is_staff_session(user):
        raise exceptions.PermissionDenied("Logged in, but not staff.")
    ident, rate = caller_rate(client=client, user=user)
    wait = throttle_wait(ident=ident, rate=rate)
    if wait is not None:
        raise exceptions.Throttled(wait=wait)
    return client
