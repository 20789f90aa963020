"""Algorithm name -> class, for training jobs, the evaluation command and `Recommender.load`."""

from __future__ import annotations

from typing import Any

from recommender.ml.als import ALS
from recommender.ml.base import Recommender
from recommender.ml.blend import Blend
from recommender.ml.bought_together import BoughtTogether
from recommender.ml.content import ContentBased
from recommender.ml.ease import EASE
from recommender.ml.ials import IALS
from recommender.ml.knn import ItemKNN
from recommender.ml.mixture import MultinomialMixture
from recommender.ml.popularity import PopularityRecommender
from recommender.ml.rating_mf import BiasedMF

ALGORITHMS: dict[str, type[Recommender]] = {
    PopularityRecommender.name: PopularityRecommender,
    ItemKNN.name: ItemKNN,
    EASE.name: EASE,
    ALS.name: ALS,
    IALS.name: IALS,
    MultinomialMixture.name: MultinomialMixture,
    Blend.name: Blend,
    ContentBased.name: ContentBased,
    BoughtTogether.name: BoughtTogether,
    BiasedMF.name: BiasedMF,
}


def make_recommender(name: str, **params: Any) -> Recommender:
    """A new, unfitted model of algorithm `name` (defaults overridden by `params`)."""
    try:
        cls = ALGORITHMS[name]
    except KeyError:
        raise ValueError(f"unknown algorithm {name!r}; choose from {', '.join(ALGORITHMS)}") from None
    return cls(**params)
