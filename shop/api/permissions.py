"""Who may call an operation: a client whose key has the operation's scope, or a logged-in staff member.

A view names the scope each method needs in `required_scopes` (e.g. {"GET": "customers:read"}); staff
sessions may call every operation. The lean recommendation views check the same through `shop.api.access`.
"""

from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission

from shop.models import ApiClient

AUTH_REQUIRED = "Authentication required: send 'Authorization: Api-Key <key>'."


def required_scope(view, method: str) -> str | None:
    scopes = getattr(view, "required_scopes", None) or {}
    return scopes.get("GET" if method == "HEAD" else method)


def check_scope(client: ApiClient, scope: str | None) -> None:
    """PermissionDenied naming the missing scope, when the client's key does not carry it."""
    if scope is not None and not client.has_scope(scope):
        raise PermissionDenied(f"This API key lacks the '{scope}' scope this operation needs.", code="missing_scope")


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
