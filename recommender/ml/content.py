"""Content-based: TF-IDF over each product's text plus its category, for products nobody has touched.

Each item becomes an L2-normalised vector: TF-IDF of its text (name, description...) and a
one-hot category block weighted by `category_weight`. A user's profile is the normalised sum
of the vectors of what they interacted with (weighted by the interaction weights); items
score by cosine to that profile, and `similar_items` is cosine between item vectors. New
products score as soon as they have text, which is what the collaborative models cannot do.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from recommender.ml.base import NotFittedError, Recommender, as_csr


def item_vectors(
    texts: Sequence[str],
    categories: Sequence[Any] | None = None,
    *,
    category_weight: float = 0.5,
    max_features: int = 50_000,
    ngram_max: int = 2,
    min_df: int = 1,
) -> sp.csr_matrix:
    """L2-normalised rows: TF-IDF(text) with a weighted one-hot category block beside it."""
    # scikit-learn is loaded on use, not when the algorithm registry is imported by every process.
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.preprocessing import normalize

    texts = ["" if t is None else str(t) for t in texts]
    if any(t.strip() for t in texts):
        vectorizer = TfidfVectorizer(
            max_features=max_features,
            ngram_range=(1, ngram_max),
            min_df=min_df,
            sublinear_tf=True,
            strip_accents="unicode",
            token_pattern=r"(?u)\b\w+\b",
        )
        text_part = vectorizer.fit_transform(texts)
    else:
        text_part = sp.csr_matrix((len(texts), 0))
    blocks = [normalize(text_part)]
    if categories is not None and category_weight > 0:
        labels = np.array(["" if c is None else str(c) for c in categories], dtype=object)
        known = labels != ""
        codes = np.unique(labels[known], return_inverse=True)[1] if known.any() else np.zeros(0, dtype=int)
        n_codes = int(codes.max()) + 1 if len(codes) else 0
        one_hot = sp.csr_matrix(
            (np.full(len(codes), category_weight), (np.flatnonzero(known), codes)), shape=(len(labels), n_codes)
        )
        blocks.append(one_hot)
    return normalize(sp.hstack(blocks, format="csr")).astype(np.float32)


class ContentBased(Recommender):
    """Cosine between TF-IDF product vectors; needs `item_text` (and optionally categories) in `fit`.

    Defaults: `category_weight=0.5` (weight of a shared category against the text's unit
    vector), `max_features=50000`, `ngram_max=2` (words and word pairs), `min_df=1`.
    """

    name = "content"
    defaults = {"category_weight": 0.5, "max_features": 50_000, "ngram_max": 2, "min_df": 1}

    vectors: sp.csr_matrix | None = None

    def fit(
        self,
        matrix: sp.csr_matrix,
        *,
        item_text: Sequence[str] | None = None,
        item_category: Sequence[Any] | None = None,
    ) -> ContentBased:
        """`matrix` only fixes the catalog size (columns); `item_text[c]` describes column c."""
        if item_text is None:
            raise ValueError("the content-based model needs item_text (one string per item column)")
        if len(item_text) != matrix.shape[1]:
            raise ValueError(f"item_text has {len(item_text)} entries for {matrix.shape[1]} item columns")
        self.vectors = item_vectors(
            item_text,
            item_category,
            category_weight=float(self.category_weight),
            max_features=int(self.max_features),
            ngram_max=int(self.ngram_max),
            min_df=int(self.min_df),
        )
        self.n_items = matrix.shape[1]
        return self

    def score(self, history: sp.csr_matrix) -> np.ndarray:
        if self.vectors is None:
            raise NotFittedError("content-based model is not fitted")
        from sklearn.preprocessing import normalize

        profiles = normalize(as_csr(history) @ self.vectors)
        return np.asarray((profiles @ self.vectors.T).toarray(), dtype=np.float64)

    def similar_items(self, item: int, *, n: int) -> tuple[np.ndarray, np.ndarray]:
        if self.vectors is None:
            raise NotFittedError("content-based model is not fitted")
        sims = np.asarray((self.vectors @ self.vectors[item].T).toarray()).ravel().astype(np.float64)
        sims[item] = -np.inf
        sims[sims <= 0] = -np.inf
        order = np.lexsort((np.arange(len(sims)), -sims))[:n]
        return order, sims[order]

    def get_state(self) -> dict[str, Any]:
        return {"vectors": self.vectors}

    def set_state(self, state: dict[str, Any]) -> None:
        self.vectors = state["vectors"]
