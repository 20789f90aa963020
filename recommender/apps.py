from django.apps import AppConfig


class RecommenderConfig(AppConfig):
    name = "recommender"

    def ready(self) -> None:
        from recommender.demo import train_demo_model
        from shop.demo.setup import register_demo_setup_step

        register_demo_setup_step(name="Train the recommender", run=train_demo_model)
