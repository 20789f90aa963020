"""Uplift models: who does a campaign move? Meta-learners on scikit-learn estimators.

`fit_uplift(X, treatment, y, outcome=..., seed=...)` splits the recipients of a randomised campaign into
train / validation / held-out parts (stratified by group and outcome), fits every candidate on train, picks
the one with the best Qini coefficient on validation, refits it on train + validation and reports its
Qini, AUUC and uplift at the top 10 % / 30 % on the held-out part, against `random_uplift` (what
targeting everyone, or anyone at random, gives per customer).

Candidates (each on gradient boosting in two sizes, plus a linear T-learner):
- T-learner: one outcome model per group; uplift = mu1(x) - mu0(x).
- X-learner (Kuenzel et al. 2019): imputed effects D1 = y - mu0(x) on the treated and D0 = mu1(x) - y on
  control, one regression each, blended by the propensity: e * tau0 + (1 - e) * tau1.
- DR-learner (Kennedy 2020): the doubly robust pseudo-outcome, with outcome models cross-fitted on two
  folds, regressed on x.
- Transformed outcome (class transformation generalised to any treated share and to revenue):
  z = y (t - e) / (e (1 - e)), whose expectation given x is the uplift, regressed on x.
The propensity e is the treated share: campaigns are randomised, so it is known and the same for all.

Features: numeric columns are imputed with the median (plus a missing-value indicator), other columns
(text, categories, booleans) are one-hot encoded, rare levels pooled and unseen levels ignored; missing
values are a level of their own. The fitted `UpliftModel` pickles, and `predict(X)` takes a frame with
the same columns (extra columns are ignored, missing ones named in the error).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from marketing.ml.uplift_metrics import qini_auc_score, qini_interval, uplift_metrics

Outcome = Literal["conversion", "revenue"]
MISSING_LEVEL = "(missing)"
MIN_PER_GROUP = 20  # recipients each of treatment and control need in every split
# One thread: on a machine shared with web and worker processes, gradient boosting's OpenMP threads
# waiting for a busy core made a 1 s fit take a minute.
SINGLE_THREAD = {"limits": 1}
CROSS_VALIDATE_BELOW = 20_000  # recipients (train + validation) under which learners are chosen by 3-fold CV
TUNE_ROWS = 40_000  # at most this many recipients fit each candidate while choosing (time bound on big campaigns)


# --- features --------------------------------------------------------------------------------------


def _categorical_columns(X: pd.DataFrame) -> list[str]:
    return [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c]) or pd.api.types.is_bool_dtype(X[c])]


def _prepare(X: pd.DataFrame, columns: list[str], categorical: list[str]) -> pd.DataFrame:
    """Columns in training order, categoricals as text with missing values as their own level."""
    missing = [c for c in columns if c not in X.columns]
    if missing:
        raise ValueError(f"feature column(s) missing: {', '.join(map(str, missing))}")
    out = X[columns].copy()
    for column in columns:
        if column in categorical:
            out[column] = out[column].astype("string").fillna(MISSING_LEVEL).astype(object)
        else:
            out[column] = pd.to_numeric(out[column], errors="coerce").astype(float)
    return out


def _preprocessor(columns: list[str], categorical: list[str]) -> ColumnTransformer:
    numeric = [c for c in columns if c not in categorical]
    return ColumnTransformer(
        [
            ("numeric", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True), numeric),
            (
                "categorical",
                OneHotEncoder(
                    handle_unknown="infrequent_if_exist", min_frequency=20, max_categories=30, sparse_output=False
                ),
                categorical,
            ),
        ],
        sparse_threshold=0.0,
    )


# --- base estimators -------------------------------------------------------------------------------


def _boosting_params(size: str, seed: int) -> dict[str, Any]:
    common = {"random_state": seed, "early_stopping": False}
    if size == "small":
        return {**common, "max_iter": 100, "learning_rate": 0.05, "max_leaf_nodes": 7, "min_samples_leaf": 100}
    return {**common, "max_iter": 150, "learning_rate": 0.08, "max_leaf_nodes": 15, "min_samples_leaf": 40}


@dataclass(frozen=True)
class BaseModels:
    """Which scikit-learn estimators a meta-learner builds on."""

    name: str
    outcome_classifier: BaseEstimator  # P(convert | x), for 0/1 outcomes
    outcome_regressor: BaseEstimator  # E[y | x], for revenue
    effect_regressor: BaseEstimator  # regressions on imputed effects / pseudo-outcomes

    @classmethod
    def boosting(cls, size: str, seed: int) -> BaseModels:
        params = _boosting_params(size, seed)
        return cls(
            name=f"gradient boosting, {size}",
            outcome_classifier=HistGradientBoostingClassifier(**params),
            outcome_regressor=HistGradientBoostingRegressor(**params),
            effect_regressor=HistGradientBoostingRegressor(**params),
        )

    @classmethod
    def linear(cls, seed: int) -> BaseModels:
        return cls(
            name="linear",
            outcome_classifier=make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=1000)),
            outcome_regressor=make_pipeline(StandardScaler(), Ridge(alpha=10.0)),
            effect_regressor=make_pipeline(StandardScaler(), Ridge(alpha=10.0)),
        )


def _fit_outcome(base: BaseModels, binary: bool, X: np.ndarray, y: np.ndarray) -> BaseEstimator:
    if binary:
        if np.unique(y).size < 2:  # a group where nobody (or everybody) converted: a constant model
            return _Constant(float(y.mean()) if y.size else 0.0)
        return clone(base.outcome_classifier).fit(X, y)
    return clone(base.outcome_regressor).fit(X, y)


def _predict_outcome(model: BaseEstimator, binary: bool, X: np.ndarray) -> np.ndarray:
    if isinstance(model, _Constant):
        return model.predict(X)
    return model.predict_proba(X)[:, 1] if binary else model.predict(X)


class _Constant(BaseEstimator):
    def __init__(self, value: float = 0.0):
        self.value = value

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.full(len(X), self.value)


# --- meta-learners (on prepared matrices) ----------------------------------------------------------


class MetaLearner:
    """fit(X, t, y) then predict(X) -> uplift per row. X is the preprocessed feature matrix."""

    key = ""

    def __init__(self, base: BaseModels, *, binary: bool, seed: int):
        self.base, self.binary, self.seed = base, binary, seed

    @property
    def name(self) -> str:
        return f"{self.key} ({self.base.name})"

    def fit(self, X: np.ndarray, t: np.ndarray, y: np.ndarray) -> MetaLearner:
        with threadpool_limits(**SINGLE_THREAD):
            return self._fit(np.asarray(X), np.asarray(t), np.asarray(y, dtype=float))

    def predict(self, X: np.ndarray) -> np.ndarray:
        with threadpool_limits(**SINGLE_THREAD):
            return self._predict(np.asarray(X))

    def _fit(self, X: np.ndarray, t: np.ndarray, y: np.ndarray) -> MetaLearner:
        raise NotImplementedError

    def _predict(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class TLearner(MetaLearner):
    key = "t-learner"

    def _fit(self, X, t, y):
        self.mu0_ = _fit_outcome(self.base, self.binary, X[t == 0], y[t == 0])
        self.mu1_ = _fit_outcome(self.base, self.binary, X[t == 1], y[t == 1])
        return self

    def _predict(self, X):
        return _predict_outcome(self.mu1_, self.binary, X) - _predict_outcome(self.mu0_, self.binary, X)


class XLearner(MetaLearner):
    key = "x-learner"

    def _fit(self, X, t, y):
        treated, control = t == 1, t == 0
        mu0 = _fit_outcome(self.base, self.binary, X[control], y[control])
        mu1 = _fit_outcome(self.base, self.binary, X[treated], y[treated])
        d1 = y[treated] - _predict_outcome(mu0, self.binary, X[treated])
        d0 = _predict_outcome(mu1, self.binary, X[control]) - y[control]
        self.tau1_ = clone(self.base.effect_regressor).fit(X[treated], d1)
        self.tau0_ = clone(self.base.effect_regressor).fit(X[control], d0)
        self.propensity_ = float(treated.mean())
        return self

    def _predict(self, X):
        e = self.propensity_
        return e * self.tau0_.predict(X) + (1 - e) * self.tau1_.predict(X)


class DRLearner(MetaLearner):
    key = "dr-learner"

    def _fit(self, X, t, y):
        e = float(t.mean())
        mu0, mu1 = np.zeros(len(y)), np.zeros(len(y))
        folds = KFold(n_splits=2, shuffle=True, random_state=self.seed)
        for fit_rows, predict_rows in folds.split(X):
            tf, yf = t[fit_rows], y[fit_rows]
            m0 = _fit_outcome(self.base, self.binary, X[fit_rows][tf == 0], yf[tf == 0])
            m1 = _fit_outcome(self.base, self.binary, X[fit_rows][tf == 1], yf[tf == 1])
            mu0[predict_rows] = _predict_outcome(m0, self.binary, X[predict_rows])
            mu1[predict_rows] = _predict_outcome(m1, self.binary, X[predict_rows])
        pseudo = mu1 - mu0 + t * (y - mu1) / e - (1 - t) * (y - mu0) / (1 - e)
        self.tau_ = clone(self.base.effect_regressor).fit(X, pseudo)
        return self

    def _predict(self, X):
        return self.tau_.predict(X)


class TransformedOutcome(MetaLearner):
    key = "transformed outcome"

    def _fit(self, X, t, y):
        e = float(t.mean())
        self.tau_ = clone(self.base.effect_regressor).fit(X, y * (t - e) / (e * (1 - e)))
        return self

    def _predict(self, X):
        return self.tau_.predict(X)


LEARNERS: dict[str, type[MetaLearner]] = {cls.key: cls for cls in (TLearner, XLearner, DRLearner, TransformedOutcome)}


def candidate_learners(*, binary: bool, seed: int) -> list[MetaLearner]:
    """Every learner tried on the validation split, simplest first (a tie keeps the simpler one)."""
    candidates: list[MetaLearner] = [TLearner(BaseModels.linear(seed), binary=binary, seed=seed)]
    for size in ("small", "large"):
        base = BaseModels.boosting(size, seed)
        candidates += [cls(base, binary=binary, seed=seed) for cls in LEARNERS.values()]
    return candidates


# --- the fitted model and the result ---------------------------------------------------------------


@dataclass
class UpliftModel:
    """A fitted uplift model: preprocessing plus meta-learner. Picklable."""

    columns: list[str]
    categorical: list[str]
    preprocessor: ColumnTransformer
    learner: MetaLearner
    outcome: Outcome

    @property
    def name(self) -> str:
        return self.learner.name

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Predicted uplift per row: extra conversion probability, or extra revenue, if treated."""
        if len(X) == 0:
            return np.zeros(0)
        matrix = self.preprocessor.transform(_prepare(X, self.columns, self.categorical))
        with threadpool_limits(**SINGLE_THREAD):
            return np.asarray(self.learner.predict(matrix), dtype=float)


@dataclass
class UpliftResult:
    model: UpliftModel
    learner: str
    outcome: Outcome
    # qini, auuc, uplift_at_10, uplift_at_30, random_uplift, holdout_recipients, qini_interval ([low, high])
    metrics: dict[str, Any]
    validation: list[dict[str, Any]] = field(default_factory=list)  # every candidate's validation Qini
    split_sizes: dict[str, int] = field(default_factory=dict)
    holdout_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))  # positions in X

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.model.predict(X)

    def as_dict(self) -> dict[str, Any]:
        """The `train_uplift --json` fields (without the campaign)."""
        return {"learner": self.learner, "outcome": self.outcome, **self.metrics}


def _validate(X: pd.DataFrame, treatment, y, outcome: str) -> tuple[np.ndarray, np.ndarray, bool]:
    if outcome not in ("conversion", "revenue"):
        raise ValueError(f"outcome must be 'conversion' or 'revenue', got {outcome!r}")
    if not isinstance(X, pd.DataFrame):
        raise ValueError("X must be a pandas DataFrame of features")
    if X.shape[1] == 0:
        raise ValueError("X has no feature columns")
    t = np.asarray(treatment).ravel()
    y_raw = pd.to_numeric(pd.Series(np.asarray(y).ravel()), errors="coerce").to_numpy(dtype=float)
    if not (len(X) == len(t) == len(y_raw)):
        raise ValueError(f"X, treatment and y differ in length: {len(X)}, {len(t)}, {len(y_raw)}")
    if not np.isin(t, (0, 1)).all():
        raise ValueError("treatment must hold only 0 (control) and 1 (treated)")
    if np.isnan(y_raw).any():
        raise ValueError(f"y is missing or not a number on {int(np.isnan(y_raw).sum())} row(s)")
    binary = outcome == "conversion"
    y_values = (y_raw != 0).astype(float) if binary else y_raw
    t = t.astype(int)
    for group, label in ((1, "treated"), (0, "control")):
        if (t == group).sum() < 5 * MIN_PER_GROUP:
            raise ValueError(
                f"too few {label} recipients to train an uplift model: {(t == group).sum()} "
                f"(at least {5 * MIN_PER_GROUP} needed)"
            )
    if binary and np.unique(y_values).size < 2:
        raise ValueError("nobody converted (or everybody did): there is nothing to learn")
    return t, y_values, binary


def fit_uplift(
    X: pd.DataFrame,
    treatment: np.ndarray,
    y: np.ndarray,
    *,
    outcome: Outcome = "conversion",
    seed: int = 0,
    validation_share: float = 0.2,
    holdout_share: float = 0.2,
    learners: list[str] | None = None,
) -> UpliftResult:
    """Choose, tune and evaluate an uplift model on a randomised campaign's recipients.

    X: one row per recipient, feature columns only (numeric or categorical, missing values allowed).
    treatment: 1 for a recipient who was sent the variant, 0 for control.
    y: the outcome in the attribution window - converted (non-zero = yes) for outcome="conversion",
    revenue for outcome="revenue".
    learners: restrict the candidates to these keys of `LEARNERS` (default: all).
    Raises ValueError naming what is wrong (lengths, non-binary treatment, too few recipients per group).
    """
    with threadpool_limits(**SINGLE_THREAD):
        return _fit_uplift(
            X,
            treatment,
            y,
            outcome=outcome,
            seed=seed,
            validation_share=validation_share,
            holdout_share=holdout_share,
            learners=learners,
        )


def _fit_uplift(X, treatment, y, *, outcome, seed, validation_share, holdout_share, learners) -> UpliftResult:
    t, y_values, binary = _validate(X, treatment, y, outcome)
    if learners is not None:
        unknown = sorted(set(learners) - set(LEARNERS))
        if unknown:
            raise ValueError(f"unknown learner(s) {unknown}; choose from {sorted(LEARNERS)}")
    columns = [str(c) for c in X.columns]
    X = X.set_axis(columns, axis=1)
    categorical = _categorical_columns(X)
    frame = _prepare(X, columns, categorical)

    strata = t * 2 + (y_values > 0)
    if np.bincount(strata, minlength=4).min() < 10:  # too few buyers in a group to spread over every split
        strata = t
    rows = np.arange(len(frame))
    rest, test = train_test_split(rows, test_size=holdout_share, random_state=seed, stratify=strata)
    pre = _preprocessor(columns, categorical).fit(frame.iloc[rest])
    matrix = pre.transform(frame.iloc[rest])
    t_rest, y_rest = t[rest], y_values[rest]
    # Small campaigns: one validation split of a few hundred recipients ranks learners by noise, so the
    # choice uses the mean Qini over stratified folds instead; large ones use one validation split.
    if len(rest) < CROSS_VALIDATE_BELOW:
        folds = list(StratifiedKFold(n_splits=3, shuffle=True, random_state=seed).split(matrix, strata[rest]))
    else:
        share = validation_share / (1 - holdout_share)
        fit_rows, valid_rows = train_test_split(
            np.arange(len(rest)), test_size=share, random_state=seed, stratify=strata[rest]
        )
        if len(fit_rows) > TUNE_ROWS:  # learners are compared on a stratified sample; the chosen one sees all
            fit_rows, _ = train_test_split(
                fit_rows, train_size=TUNE_ROWS, random_state=seed, stratify=strata[rest][fit_rows]
            )
        folds = [(np.sort(fit_rows), valid_rows)]
    candidates = [c for c in candidate_learners(binary=binary, seed=seed) if learners is None or c.key in learners]
    scores = []
    best_index, best_score = 0, -np.inf
    for index, candidate in enumerate(candidates):
        fold_scores = []
        for fit_rows, valid_rows in folds:
            candidate.fit(matrix[fit_rows], t_rest[fit_rows], y_rest[fit_rows])
            fold_scores.append(
                qini_auc_score(y_rest[valid_rows], candidate.predict(matrix[valid_rows]), t_rest[valid_rows])
            )
        known = [s for s in fold_scores if s is not None]
        score = float(np.mean(known)) if known else None
        scores.append({"learner": candidate.name, "validation_qini": score})
        if score is not None and score > best_score + 1e-9:
            best_index, best_score = index, score

    chosen = candidates[best_index]
    final = type(chosen)(chosen.base, binary=binary, seed=seed).fit(matrix, t_rest, y_rest)
    model = UpliftModel(columns=columns, categorical=categorical, preprocessor=pre, learner=final, outcome=outcome)
    predicted = model.predict(X.iloc[test])
    metrics = uplift_metrics(y_values[test], predicted, t[test])
    # A held-out split of a small campaign holds few control recipients: its Qini is mostly the luck of the split.
    interval = qini_interval(y_values[test], predicted, t[test], rng=seed)
    metrics["qini_interval"] = list(interval) if interval is not None else None
    return UpliftResult(
        model=model,
        learner=final.name,
        outcome=outcome,
        metrics=metrics,
        validation=scores,
        holdout_rows=np.sort(test),
        split_sizes={
            "fit": len(folds[0][0]),
            "validation": len(folds[0][1]),
            "folds": len(folds),
            "holdout": len(test),
        },
    )


def targeting_estimate(predicted_uplift: np.ndarray, *, share: float) -> dict[str, float | int]:
    """Expected incremental outcomes when targeting the top `share` of an audience by predicted uplift.

    Returns the audience, the number targeted, the expected incremental conversions (or revenue) from
    them, and from targeting everyone, summing the model's predicted uplifts.
    """
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1], got {share!r}")
    scores = np.sort(np.asarray(predicted_uplift, dtype=float))[::-1]
    targeted = int(np.ceil(len(scores) * share))
    return {
        "audience": len(scores),
        "targeted": targeted,
        "expected_incremental": float(scores[:targeted].sum()),
        "expected_incremental_everyone": float(scores.sum()),
    }
