"""The scikit-learn pipeline that turns customer features into the matrix the clustering sees.

Kept apart from `features` so that reading features (RFM, rules, profiles) does not load scikit-learn.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from segments.ml.features import CATEGORICAL, CATEGORY_PREFIX, HEAVY_TAILED, RATIOS, SPARSE


class QuantileClipper(BaseEstimator, TransformerMixin):
    """Clips each column to quantiles learned in fit, so a few extreme customers cannot dominate a scale."""

    def __init__(self, lower: float = 0.001, upper: float = 0.999):
        self.lower = lower
        self.upper = upper

    def fit(self, X, y=None):
        values = np.asarray(X, dtype=float)
        self.low_ = np.nanquantile(values, self.lower, axis=0) if len(values) else np.zeros(values.shape[1])
        self.high_ = np.nanquantile(values, self.upper, axis=0) if len(values) else np.zeros(values.shape[1])
        self.n_features_in_ = values.shape[1]
        return self

    def transform(self, X):
        return np.clip(np.asarray(X, dtype=float), self.low_, self.high_)

    def get_feature_names_out(self, input_features=None):
        return np.asarray(
            input_features if input_features is not None else [f"x{i}" for i in range(self.n_features_in_)]
        )


def _log1p_nonnegative(X):
    return np.log1p(np.clip(np.asarray(X, dtype=float), 0, None))


def feature_pipeline(columns: list[str]) -> Pipeline:
    """Impute, log-transform heavy tails, clip, one-hot gender and standardise the given columns."""
    heavy = [c for c in columns if c in HEAVY_TAILED]
    sparse = [c for c in columns if c in SPARSE]
    plain = [c for c in columns if c in RATIOS or c.startswith(CATEGORY_PREFIX)]
    categorical = [c for c in columns if c in CATEGORICAL]
    transformers = []
    if heavy:
        transformers.append(
            (
                "heavy_tailed",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                        ("log", FunctionTransformer(_log1p_nonnegative, feature_names_out="one-to-one")),
                        ("clip", QuantileClipper()),
                        ("scale", StandardScaler()),
                    ]
                ),
                heavy,
            )
        )
    if sparse:
        transformers.append(
            (
                "sparse",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                        ("clip", QuantileClipper()),
                        ("scale", StandardScaler()),
                    ]
                ),
                sparse,
            )
        )
    if plain:
        transformers.append(
            (
                "ratios",
                Pipeline([("impute", SimpleImputer(strategy="constant", fill_value=0.0)), ("scale", StandardScaler())]),
                plain,
            )
        )
    if categorical:
        transformers.append(("categorical", OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical))
    return Pipeline([("columns", ColumnTransformer(transformers, remainder="drop", sparse_threshold=0.0))])
