"""Algorithm name -> class, for training jobs, the evaluation command and `Recommender.load`."""

from __future__ import annotations

from typing import Any

from recommender.ml.als import ALS
from recommender.ml.base import Recommender
from recommender.ml.ease import EASE
from recommender.ml.knn import ItemKNN
from recommender.ml.popularity import PopularityRecommender

ALGORITHMS: dict[str, type[Recommender]] = {
    PopularityRecommender.name: PopularityRecommender,
    ItemKNN.name: ItemKNN,
    EASE.name: EASE,
    ALS.name: ALS,
}


def make_recommender(name: str, **params: Any) -> Recommender:
    """A new, unfitted model of algorithm `name` (defaults overridden by `params`)."""
    try:
        cls = ALGORITHMS[name]
    except KeyError:
        raise ValueError(f"unknown algorithm {name!r}; choose from {', '.join(ALGORITHMS)}") from None
    return cls(**params)
