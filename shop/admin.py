"""Admin for the shop data. Import jobs and API clients have their own modules, imported here."""

from shop import admin_api_clients, admin_imports  # noqa: F401  (registers their admin classes)
