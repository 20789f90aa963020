from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RecommenderConfig(AppConfig):
    name = "recommender"
    verbose_name = _("Recommender")

    def ready(self) -> None:
        from recommender.demo import train_demo_model
        from shop.demo.setup import register_demo_setup_step

        register_demo_setup_step(name="Train the recommender", run=train_demo_model)
