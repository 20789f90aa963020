"""Who may call an operation: a client whose key has the operation's scope, or a logged-in staff member.

A view names the scope each method needs in `required_scopes` (e.g. {"GET": "customers:read"}); staff
sessions may call every operation. The lean recommendation views check the same through `shop.api.access`.
"""

from urllib.parse import urlsplit

from django.conf import settings
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission

from shop.models import ApiClient, ApiScope

AUTH_REQUIRED = "Authentication required: send 'Authorization: Api-Key <key>'."


def required_scope(view, method: str) -> str | None:
    scopes = getattr(view, "required_scopes", None) or {}
    return scopes.get("GET" if method == "HEAD" else method)


def check_scope(client: ApiClient, scope: str | None) -> None:
    """PermissionDenied naming the missing scope, when the client's key does not carry it."""
    if scope is not None and not client.has_scope(scope):
        raise PermissionDenied(f"This API key lacks the '{scope}' scope this operation needs.", code="missing_scope")


# A key holding no more than these is a browser key: public (it ships in the shop's pages), so it is accepted
# from a browser only on the shop's configured origins (settings.CORS_ALLOWED_ORIGINS) or the product's own.
BROWSER_SCOPES = frozenset({ApiScope.EVENTS_WRITE, ApiScope.RECOMMENDATIONS_READ, ApiScope.OFFERS_READ})


def is_browser_key(client: ApiClient) -> bool:
    return bool(client.scopes) and set(client.scopes) <= BROWSER_SCOPES


def check_browser_origin(client: ApiClient, meta) -> None:
    """PermissionDenied when a browser key comes from a page on an origin the product does not serve for."""
    origin = meta.get("HTTP_ORIGIN")
    if not origin or not is_browser_key(client):
        return
    if origin in settings.CORS_ALLOWED_ORIGINS or urlsplit(origin).netloc == (
        meta.get("HTTP_HOST") or meta.get("SERVER_NAME")
    ):
        return
    raise PermissionDenied(
        f"This browser key is not accepted from {origin}: add the shop's origin to SHOP_ALLOWED_ORIGINS.",
        code="origin_not_allowed",
    )


def is_staff_session(user) -> bool:
    return bool(user and user.is_authenticated and user.is_staff)


class IsApiClientOrStaff(BasePermission):
    """A client application with a valid API key holding the view's scope, or a staff member."""

    message = AUTH_REQUIRED

    def has_permission(self, request, view):
        if isinstance(request.auth, ApiClient):
            check_scope(request.auth, required_scope(view, request.method))
            return True
        return is_staff_session(request.user)
