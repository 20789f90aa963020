"""The recommender part of `setup_demo`: train a model when none is serving yet."""

from __future__ import annotations

from shop.demo.setup import DemoSetupContext


def train_demo_model(context: DemoSetupContext) -> str:
    from recommender.models import TrainingRun
    from recommender.services import train_model

    active = TrainingRun.objects.filter(is_active=True).first()
    if active is not None:
        return f"reusing the active model: {active}"
    run = train_model()
    if run.status != TrainingRun.Status.SUCCEEDED:
        return f"training failed: {run.error.splitlines()[0] if run.error else 'unknown error'}"
    ndcg = run.metrics.get("ndcg@10")
    return f"trained {run.algorithm} (holdout nDCG@10 {ndcg:.3f}); it serves /api/v1/recommendations/<customer>"
