"""Factories for the recommender's own models."""

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from recommender.models import TrainingRun


class TrainingRunFactory(DjangoModelFactory):
    """A finished run without an artifact (for registry tests that never serve it)."""

    class Meta:
        model = TrainingRun

    algorithm = "ease"
    status = TrainingRun.Status.SUCCEEDED
    n_users = 100
    n_items = 50
    n_interactions = 1000
    metrics = factory.LazyFunction(lambda: {"ndcg@10": 0.3, "precision@10": 0.2})
    finished_at = factory.LazyFunction(timezone.now)
