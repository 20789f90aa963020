from rest_framework.permissions import BasePermission

from shop.models import ApiClient


class IsApiClientOrStaff(BasePermission):
    """A client application with a valid API key, or a logged-in staff member (browsing the API)."""

    message = "Authentication required: send 'Authorization: Api-Key <key>'."

    def has_permission(self, request, view):
        if isinstance(request.auth, ApiClient):
            return True
        user = request.user
        return bool(user and user.is_authenticated and user.is_staff)
