from django.apps import AppConfig


class SegmentsConfig(AppConfig):
    name = "segments"

    def ready(self) -> None:
        from segments.demo import run_demo_segmentations
        from shop.demo.setup import register_demo_setup_step

        register_demo_setup_step(name="Segment the customers", run=run_demo_segmentations)
