"""Offline evaluation: split, tune on validation carved from train, refit, score on test.

Protocol (microsoft/recommenders, `protocol="stratified"`): every interaction is an implicit
positive; each user's interactions are split 75/25 at random with a fixed seed (row for row
recommenders 1.2's `python_stratified_split`); a model fits on train, recommends k items per
test user from the items that user did not see in train, and every held-out item is relevant.
A model that can learn from weights (`uses_values`: EASE with binary=False, a blend) is fitted
and scored on the train matrix with the ratings as values, as it is on event weights in
production; the others on 0/1. The test side is 0/1 either way. `protocol="temporal"` holds out each user's most recent
share of interactions instead.

Hyperparameters never see the test split: the training part is split again the same way
(seeds seed + 1 and seed + 2: two validation splits, averaged, because one is too noisy to
tell close settings apart) into inner train and validation parts; each algorithm's small
grid is scored by nDCG@k on validation (rating models by RMSE), the blend's weights are
chosen on two further validation splits (seeds seed + 3, seed + 4: the splits that picked the
parameters would favour the parts with the largest grids), and
each model is then refit on the whole training part with the chosen values. `train_seconds`
is the wall time of that final fit alone.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recommender.ml.base import Recommender
from recommender.ml.blend import normalise_scores
from recommender.ml.matrix import ratings_matrix
from recommender.ml.metrics import catalog_coverage, mae, ranking_metrics, rmse
from recommender.ml.registry import ALGORITHMS, make_recommender
from recommender.ml.splits import stratified_split, temporal_split

PROTOCOLS = ("stratified", "temporal")
DEFAULT_ALGORITHMS = ("popularity", "item_knn", "ease", "als", "ials", "blend", "biased_mf")
BLEND_PARTS = ("ease", "als", "ials", "item_knn")

# Small grids, searched on validation only. Each is a list of parameter dicts.
DEFAULT_GRIDS: dict[str, list[dict[str, Any]]] = {
    "item_knn": [{"k": k, "shrink": s} for k in (50, 100, 200) for s in (0.0, 10.0, 50.0)],
    # On 0/1 cells, and on weight ** 0.5 cells (ratings or event weights; rescaled to mean 1, so the same l2s).
    "ease": [{"l2": v} for v in (50.0, 100.0, 200.0, 300.0, 500.0, 800.0, 1500.0)]
    + [{"binary": False, "value_power": 0.5, "l2": v} for v in (100.0, 200.0, 300.0, 500.0, 800.0, 1500.0)],
    # The ratio of regularisation to alpha matters most (implicit's regularisation is not scaled by
    # activity): three magnitudes at ratio 7.5, and two other ratios around the middle one.
    "als": [
        {"factors": f, "regularization": r, "alpha": a, "iterations": 15}
        for f in (32, 64)
        for r, a in ((15.0, 2.0), (30.0, 4.0), (60.0, 8.0), (30.0, 3.0), (30.0, 6.0))
    ],
    # One setting (its defaults, chosen on a validation split during development): a fit costs ~2 CPU s here.
    "ials": [{}],
    # Rating model: tuned on validation RMSE, not on ranking.
    "biased_mf": [{"factors": 8, "regularization": r} for r in (5.0, 10.0, 20.0)]
    + [{"factors": 16, "regularization": 10.0}],
}


@dataclass
class Dataset:
    """Interactions as index arrays (users, items in 0..n-1) with optional ratings and times."""

    users: np.ndarray
    items: np.ndarray
    n_users: int
    n_items: int
    ratings: np.ndarray | None = None
    times: np.ndarray | None = None
    user_ids: np.ndarray | None = None
    item_ids: np.ndarray | None = None
    item_text: list[str] | None = None  # per item column, for content-based models

    def __len__(self) -> int:
        return len(self.users)

    def subset(self, mask: np.ndarray) -> Dataset:
        return Dataset(
            users=self.users[mask],
            items=self.items[mask],
            n_users=self.n_users,
            n_items=self.n_items,
            ratings=None if self.ratings is None else self.ratings[mask],
            times=None if self.times is None else self.times[mask],
            user_ids=self.user_ids,
            item_ids=self.item_ids,
            item_text=self.item_text,
        )

    def positives(self) -> sp.csr_matrix:
        """users x items, 1 for every interaction (all ratings count as positives)."""
        return ratings_matrix(self.users, self.items, None, (self.n_users, self.n_items))

    def rating_matrix(self) -> sp.csr_matrix:
        values = self.ratings if self.ratings is not None else np.ones(len(self.users))
        return ratings_matrix(self.users, self.items, values, (self.n_users, self.n_items))


def dataset_from_frame(
    frame: pd.DataFrame,
    *,
    user_col: str = "user",
    item_col: str = "item",
    rating_col: str | None = None,
    time_col: str | None = None,
) -> Dataset:
    """Index a frame's users and items (sorted distinct ids) into a Dataset.

    A (user, item) pair is one interaction: repeats collapse to the latest row (by time when
    given), so a pair can never sit in both train and test.
    """
    frame = frame.reset_index(drop=True)
    latest_first = frame.sort_values(time_col, kind="stable") if time_col is not None else frame
    keep = latest_first.drop_duplicates([user_col, item_col], keep="last").index
    if len(keep) < len(frame):
        frame = frame.loc[frame.index.isin(keep)]  # row order kept: it seeds the random split
    user_ids, users = np.unique(frame[user_col].to_numpy(), return_inverse=True)
    item_ids, items = np.unique(frame[item_col].to_numpy(), return_inverse=True)
    ratings = None if rating_col is None else pd.to_numeric(frame[rating_col]).to_numpy(dtype=np.float64)
    times = None if time_col is None else frame[time_col].to_numpy()
    return Dataset(
        users=users.astype(np.int64),
        items=items.astype(np.int64),
        n_users=len(user_ids),
        n_items=len(item_ids),
        ratings=ratings,
        times=times,
        user_ids=user_ids,
        item_ids=item_ids,
    )


def split_dataset(data: Dataset, *, protocol: str, test_ratio: float, seed: int) -> tuple[Dataset, Dataset]:
    if protocol == "stratified":
        mask = stratified_split(data.users, ratio=1.0 - test_ratio, seed=seed)
    elif protocol == "temporal":
        if data.times is None:
            raise ValueError("the temporal protocol needs interaction times")
        mask = temporal_split(data.users, data.times, test_ratio=test_ratio)
    else:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, not {protocol!r}")
    return data.subset(mask), data.subset(~mask)


def recommend_for_test(model: Recommender, train: sp.csr_matrix, test: sp.csr_matrix, *, k: int) -> np.ndarray:
    """Top-k per user (rows of train), items seen in train excluded, -1 where nothing is left."""
    items, scores = model.recommend(train, n=k, exclude=train)
    items = np.asarray(items, dtype=np.int64).copy()
    items[~np.isfinite(scores)] = -1
    return items


def evaluable_users(train: sp.csr_matrix, test: sp.csr_matrix) -> np.ndarray:
    """Users with something held out and something to learn from."""
    return np.flatnonzero((np.diff(test.indptr) > 0) & (np.diff(train.indptr) > 0))


def evaluate_fitted(model: Recommender, train: sp.csr_matrix, test: sp.csr_matrix, *, k: int) -> dict[str, float]:
    users = evaluable_users(train, test)
    recommended = recommend_for_test(model, train[users], test[users], k=k)
    result = ranking_metrics(recommended, test[users], k=k)
    result["coverage"] = catalog_coverage(recommended, train.shape[1])
    result["users"] = len(users)
    return result


def holdout_metrics(
    name: str,
    params: dict[str, Any],
    matrix: sp.csr_matrix,
    *,
    seed: int,
    max_users: int,
    k: int = 10,
    fit_kwargs: dict[str, Any] | None = None,
) -> dict[str, float]:
    """nDCG@k, precision@k, recall@k, MAP and coverage of `name` on a per-user 75/25 holdout of the cells.

    At most `max_users` users are scored (a seeded sample), so the figure stays bounded in time and
    memory on large data. Empty when there is too little to split.
    """
    coo = matrix.tocoo()
    if coo.nnz < 4:
        return {}
    train_mask = stratified_split(coo.row, ratio=0.75, seed=seed)
    train = sp.csr_matrix((coo.data[train_mask], (coo.row[train_mask], coo.col[train_mask])), shape=matrix.shape)
    test = sp.csr_matrix((coo.data[~train_mask], (coo.row[~train_mask], coo.col[~train_mask])), shape=matrix.shape)
    model = make_recommender(name, **params).fit(train, **(fit_kwargs or {}))
    users = evaluable_users(train, test)
    if len(users) > max_users:
        users = np.sort(np.random.default_rng(seed).choice(users, max_users, replace=False))
    if len(users) == 0:
        return {}
    result = evaluate_fitted(model, train[users], test[users], k=k)
    return {
        f"ndcg@{k}": round(result["ndcg"], 5),
        f"precision@{k}": round(result["precision"], 5),
        f"recall@{k}": round(result["recall"], 5),
        "map": round(result["map"], 5),
        "coverage": round(result["coverage"], 5),
        "eval_users": int(result["users"]),
    }


def _needs_ratings(name: str) -> bool:
    return bool(getattr(ALGORITHMS[name], "needs_ratings", False))


def _uses_values(name: str) -> bool:
    """Fitted and scored on the weighted matrix (ratings as values), as in production, rather than on 0/1."""
    cls = ALGORITHMS[name]
    return bool(getattr(cls, "needs_ratings", False) or getattr(cls, "uses_values", False))


def _input_matrix(name: str, data: Dataset) -> sp.csr_matrix:
    return data.rating_matrix() if _uses_values(name) else data.positives()


def _fit(name: str, params: dict[str, Any], data: Dataset) -> tuple[Recommender, float]:
    model = make_recommender(name, **params)
    matrix = _input_matrix(name, data)
    start, cpu_start = time.perf_counter(), time.process_time()
    if name == "content":
        model.fit(matrix, item_text=data.item_text)
    else:
        model.fit(matrix)
    # CPU seconds of every thread: a load-independent companion to the wall time on a shared machine.
    model.fit_cpu_seconds = time.process_time() - cpu_start
    return model, time.perf_counter() - start


@dataclass
class TuningResult:
    params: dict[str, Any]
    validation_ndcg: float  # mean over the validation folds; for rating models: minus the RMSE
    tried: list[tuple[dict[str, Any], float]] = field(default_factory=list)
    validation_scores: list[np.ndarray] | None = None  # best model's scores for each fold's validation users


@dataclass
class ValidationFold:
    """An inner train / validation pair carved from the training part."""

    inner_train: Dataset
    validation: Dataset

    def __post_init__(self) -> None:
        self.train_positives = self.inner_train.positives()
        self.valid_positives = self.validation.positives()
        self.users = evaluable_users(self.train_positives, self.valid_positives)


def validation_folds(
    train: Dataset, *, protocol: str, test_ratio: float, seed: int, folds: int
) -> list[ValidationFold]:
    """`folds` inner splits of the training part (seeds seed+1, seed+2...; temporal has just one)."""
    count = 1 if protocol == "temporal" else max(1, folds)
    return [
        ValidationFold(*split_dataset(train, protocol=protocol, test_ratio=test_ratio, seed=seed + 1 + index))
        for index in range(count)
    ]


def tune_algorithm(
    name: str,
    folds: Sequence[ValidationFold],
    *,
    grid: Sequence[dict[str, Any]],
    k: int,
    keep_scores: bool = False,
    log: Callable[[str], None] = lambda _msg: None,
) -> TuningResult:
    """Fit each grid point on every fold's inner train; keep the best mean validation nDCG@k (rating models: RMSE)."""
    rating_model = _needs_ratings(name) and all(f.validation.ratings is not None for f in folds)
    best: TuningResult | None = None
    tried: list[tuple[dict[str, Any], float]] = []
    for params in grid or [{}]:
        values: list[float] = []
        fold_scores: list[np.ndarray] = []
        for fold in folds:
            model, _seconds = _fit(name, params, fold.inner_train)
            if rating_model:
                # Higher is better everywhere here, so a rating model's objective is -RMSE.
                predicted = model.predict(fold.validation.users, fold.validation.items)
                values.append(-rmse(fold.validation.ratings, predicted))
            else:
                history = _input_matrix(name, fold.inner_train)
                scores = np.asarray(model.score(history[fold.users]), dtype=np.float64)
                values.append(
                    _ndcg_from_scores(scores, fold.train_positives[fold.users], fold.valid_positives[fold.users], k=k)
                )
                if keep_scores:
                    fold_scores.append(scores)
        value = float(np.mean(values))
        label = f"validation RMSE {-value:.4f}" if rating_model else f"validation nDCG@{k} {value:.4f}"
        log(f"  {name} {params}: {label}")
        tried.append((dict(params), value))
        if best is None or value > best.validation_ndcg:
            best = TuningResult(
                params=dict(params), validation_ndcg=value, validation_scores=fold_scores if keep_scores else None
            )
    assert best is not None
    best.tried = tried
    return best


def _ndcg_from_scores(scores: np.ndarray, history: sp.csr_matrix, relevant: sp.csr_matrix, *, k: int) -> float:
    from recommender.ml.base import top_n

    masked = scores.copy()
    rows, cols = history.nonzero()
    masked[rows, cols] = -np.inf
    items, values = top_n(masked, k)
    items = items.copy()
    items[~np.isfinite(values)] = -1
    return ranking_metrics(items, relevant, k=k)["ndcg"]


def weight_grid(names: Sequence[str], *, step: float = 0.1) -> Iterable[dict[str, float]]:
    """All weightings of `names` on a `step` simplex grid (weights sum to 1; a single model is allowed)."""
    units = round(1 / step)
    for combo in itertools.product(range(units + 1), repeat=len(names)):
        if sum(combo) == units:
            yield {name: round(c * step, 6) for name, c in zip(names, combo, strict=True)}


def tune_blend_weights(
    validation_scores: dict[str, list[np.ndarray]],
    folds: Sequence[ValidationFold],
    *,
    k: int,
    normalisers: Sequence[str] = ("zscore",),
    step: float = 0.1,
) -> tuple[dict[str, float], str, float]:
    """The weights (and normaliser) whose blend of validation scores has the best mean nDCG@k over the folds."""
    names = list(validation_scores)
    best: tuple[dict[str, float], str, float] | None = None
    for method in normalisers:
        normalised = [
            {
                n: normalise_scores(validation_scores[n][index], fold.train_positives[fold.users], method=method)
                for n in names
            }
            for index, fold in enumerate(folds)
        ]
        for weights in weight_grid(names, step=step):
            values = []
            for index, fold in enumerate(folds):
                total = sum(weights[n] * normalised[index][n] for n in names if weights[n])
                history, relevant = fold.train_positives[fold.users], fold.valid_positives[fold.users]
                values.append(_ndcg_from_scores(total, history, relevant, k=k))
            ndcg = float(np.mean(values))
            if best is None or ndcg > best[2] + 1e-12:
                best = (weights, method, ndcg)
    assert best is not None
    return best


def run_evaluation(
    data: Dataset,
    *,
    protocol: str = "stratified",
    test_ratio: float = 0.25,
    seed: int = 42,
    k: int = 10,
    algorithms: Sequence[str] = DEFAULT_ALGORITHMS,
    tune: bool = True,
    grids: dict[str, list[dict[str, Any]]] | None = None,
    validation_splits: int = 2,
    log: Callable[[str], None] = lambda _msg: None,
) -> dict[str, Any]:
    """Split, tune on validation, refit on train, score on test: {"protocol", "k", "results", ...}."""
    unknown = [a for a in algorithms if a not in ALGORITHMS]
    if unknown:
        raise ValueError(f"unknown algorithm(s) {unknown}; choose from {', '.join(ALGORITHMS)}")
    grids = DEFAULT_GRIDS if grids is None else grids
    train, test = split_dataset(data, protocol=protocol, test_ratio=test_ratio, seed=seed)
    test_m = test.positives()
    log(f"{protocol} split (seed {seed}): {len(train):,} train / {len(test):,} test interactions, "
        f"{data.n_users:,} users x {data.n_items:,} items")  # fmt: skip

    chosen: dict[str, dict[str, Any]] = {}
    tuning: dict[str, Any] = {}
    want_blend = "blend" in algorithms
    to_tune = [a for a in algorithms if a in grids and tune]
    if want_blend and tune:
        to_tune += [a for a in BLEND_PARTS if a not in to_tune]
    if to_tune:
        folds = validation_folds(train, protocol=protocol, test_ratio=test_ratio, seed=seed, folds=validation_splits)
        started = time.perf_counter()
        for name in to_tune:
            log(f"tuning {name} on {len(folds)} validation split(s) ({len(grids.get(name, []))} settings)")
            result = tune_algorithm(name, folds, grid=grids.get(name, [{}]), k=k, log=log)
            chosen[name] = result.params
            if _needs_ratings(name):
                tuning[name] = {"params": result.params, "validation_rmse": round(-result.validation_ndcg, 4)}
            else:
                tuning[name] = {"params": result.params, "validation_ndcg": round(result.validation_ndcg, 4)}
        if want_blend:
            # Fresh validation splits for the weights: the ones that picked each part's parameters flatter the
            # parts with the largest grids (the best of many noisy scores), which would then get too much weight.
            blend_folds = validation_folds(
                train, protocol=protocol, test_ratio=test_ratio, seed=seed + len(folds), folds=validation_splits
            )
            log(f"scoring the blend's parts on {len(blend_folds)} fresh validation split(s)")
            kept = {
                name: [
                    np.asarray(
                        _fit(name, chosen[name], fold.inner_train)[0].score(
                            _input_matrix(name, fold.inner_train)[fold.users]
                        ),
                        dtype=np.float64,
                    )
                    for fold in blend_folds
                ]
                for name in BLEND_PARTS
            }
            weights, method, ndcg = tune_blend_weights(kept, blend_folds, k=k)
            chosen["blend"] = {
                "components": {n: chosen[n] for n in BLEND_PARTS if weights.get(n)},
                "weights": {n: w for n, w in weights.items() if w},
                "normalise": method,
            }
            tuning["blend"] = {"params": chosen["blend"], "validation_ndcg": round(ndcg, 4)}
            log(f"  blend weights {weights} ({method}): validation nDCG@{k} {ndcg:.4f}")
        log(f"tuning took {time.perf_counter() - started:.1f} s")

    results: dict[str, dict[str, Any]] = {}
    for name in algorithms:
        params = chosen.get(name, {})
        log(f"fitting {name} {params or '(defaults)'}")
        model, seconds = _fit(name, params, train)
        history = _input_matrix(name, train)
        metrics = evaluate_fitted(model, history, test_m, k=k)
        metrics["train_seconds"] = seconds
        metrics["train_cpu_seconds"] = model.fit_cpu_seconds
        metrics["params"] = model.get_params()
        metrics.update({key: value for key, value in tuning.get(name, {}).items() if key.startswith("validation_")})
        if _needs_ratings(name) and test.ratings is not None:
            predicted = model.predict(test.users, test.items)
            metrics["rmse"], metrics["mae"] = rmse(test.ratings, predicted), mae(test.ratings, predicted)
        results[name] = metrics
        log(f"  {name}: nDCG@{k} {metrics['ndcg']:.4f}  P@{k} {metrics['precision']:.4f}  ({seconds:.2f} s)")
    return {
        "protocol": protocol,
        "k": k,
        "seed": seed,
        "test_ratio": test_ratio,
        "tuned": bool(to_tune),
        "n_users": data.n_users,
        "n_items": data.n_items,
        "n_train": len(train),
        "n_test": len(test),
        "results": results,
    }


def cross_validate_ratings(
    data: Dataset,
    *,
    folds: int = 5,
    seed: int = 42,
    grid: Sequence[dict[str, Any]] | None = None,
    log: Callable[[str], None] = lambda _msg: None,
) -> dict[str, Any]:
    """Rating prediction, k-fold over all ratings (Surprise's protocol): mean RMSE and MAE of biased MF.

    In each fold the grid is searched on a random 80/20 split of that fold's training ratings
    only; the chosen setting is refit on the whole training part and scored on the held-out fold.
    """
    if data.ratings is None:
        raise ValueError("rating prediction needs ratings")
    grid = DEFAULT_GRIDS["biased_mf"] if grid is None else grid
    rng = np.random.default_rng(seed)
    assignment = rng.permutation(len(data)) % folds
    errors: list[tuple[float, float]] = []
    chosen: list[dict[str, Any]] = []
    seconds: list[float] = []
    for fold in range(folds):
        train, test = data.subset(assignment != fold), data.subset(assignment == fold)
        inner_mask = np.random.default_rng(seed + 1 + fold).random(len(train)) < 0.8
        inner, validation = train.subset(inner_mask), train.subset(~inner_mask)
        best = min(
            grid,
            key=lambda p: rmse(
                validation.ratings, _fit("biased_mf", p, inner)[0].predict(validation.users, validation.items)
            ),
        )
        model, fit_seconds = _fit("biased_mf", best, train)
        predicted = model.predict(test.users, test.items)
        errors.append((rmse(test.ratings, predicted), mae(test.ratings, predicted)))
        chosen.append(dict(best))
        seconds.append(fit_seconds)
        log(f"fold {fold + 1}/{folds}: {best} RMSE {errors[-1][0]:.4f} MAE {errors[-1][1]:.4f}")
    return {
        "folds": folds,
        "rmse": float(np.mean([e[0] for e in errors])),
        "mae": float(np.mean([e[1] for e in errors])),
        "rmse_per_fold": [round(e[0], 4) for e in errors],
        "params_per_fold": chosen,
        "train_seconds": float(np.mean(seconds)),
    }
