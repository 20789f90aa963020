from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SegmentsConfig(AppConfig):
    name = "segments"
    verbose_name = _("Segments")

    def ready(self) -> None:
        from segments.demo import run_demo_segmentations
        from shop.demo.setup import register_demo_setup_step

        register_demo_setup_step(name="Segment the customers", run=run_demo_segmentations)
