from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MarketingConfig(AppConfig):
    name = "marketing"
    verbose_name = _("Marketing")

    def ready(self) -> None:
        from shop.demo.setup import register_demo_setup_step

        register_demo_setup_step(name="Pause the default schedules", run=_pause_default_schedules)


def _pause_default_schedules(context) -> str:
    """The demo runs its jobs on demand (and eagerly, without a worker): its nightly schedules stay paused."""
    from marketing.schedules import schedules_pause_defaults

    paused = schedules_pause_defaults()
    return f"{paused} paused (resume them on /staff/schedules/)" if paused else "already paused"
