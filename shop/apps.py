from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ShopConfig(AppConfig):
    name = "shop"
    verbose_name = _("Shop data")

    def ready(self):
        # Connects the receivers that drop a saved or deleted API client's key from the shared cache.
        from shop import checks  # noqa: F401  (deployment checks)
        from shop.api import authentication  # noqa: F401
        from shop.demo.setup import register_demo_setup_step

        register_demo_setup_step(name="Count the events per day for the dashboard", run=_count_demo_days)


def _count_demo_days(context) -> str:
    """The dashboard's counts per day, built once here: else the first dashboard request would count them all."""
    from shop.counts.services import daily_counts_rebuild

    return f"{daily_counts_rebuild():,} days counted"
