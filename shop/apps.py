from django.apps import AppConfig


class ShopConfig(AppConfig):
    name = "shop"
    verbose_name = "Shop data"

    def ready(self):
        # Connects the receivers that drop a saved or deleted API client's key from the shared cache.
        from shop import checks  # noqa: F401  (deployment checks)
        from shop.api import authentication  # noqa: F401
