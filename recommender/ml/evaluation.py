"""Offline evaluation: split, search hyperparameters on validation carved from train, refit, score on test.

Protocol (microsoft/recommenders, `protocol="stratified"`): every interaction is an implicit
positive; each user's interactions are split 75/25 at random with a fixed seed (row for row
recommenders 1.2's `python_stratified_split`); a model fits on train, recommends k items per
test user from the items that user did not see in train, and every held-out item is relevant.
A model that can learn from weights (`uses_values`: EASE with binary=False, a blend) is fitted
and scored on the train matrix with the ratings as values, as it is on event weights in
production; the others on 0/1. The test side is 0/1 either way. `protocol="temporal"` holds out each user's most recent
share of interactions instead.

Hyperparameters never see the test split, and come from the data at hand rather than from
defaults fitted elsewhere: the training part is split again the same way (seeds seed + 1, seed + 2;
two validation splits, averaged, on small data where one is too noisy to tell close settings
apart; one on large data) into inner train and validation parts, at most `validation_users`
validation users scored (a seeded sample). Each algorithm's search space scales with that data
(`search.candidates`) and is searched by successive halving on validation nDCG@k (rating models:
RMSE) within a share of a CPU-time budget that bounds it: no fit starts whose cost, estimated from
the earlier fits of that algorithm, would carry it past its share. A family whose first, cheap level
stays below BLEND_PART_MIN_SHARE of the best family searched so far is not refined. The blend weighs
the (at most BLEND_MAX_PARTS) parts within that share of the best whose refits fit in what is left of
the budget (the best part always; alone, it gets all the weight without a refit); its weights are
chosen on a further, fresh validation split (the splits that picked the parameters would favour the
parts with the largest spaces), and the blend keeps its mix only when it beats its best part on those
users by more than twice the standard error of the paired difference; otherwise the best part gets all the weight.
Each model is then refit on the whole training part with the chosen values (a blend reuses its
parts' fits). `train_seconds` is the wall time of that final fit alone.

Deterministic for a seed, unless the time budget cuts a search short (`search_cut_short` in
the report says so).
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
from recommender.ml.metrics import catalog_coverage, mae, ndcg_per_user, ranking_metrics, rmse
from recommender.ml.registry import ALGORITHMS, make_recommender
from recommender.ml.search import DataShape, SearchResult, candidates, levels_for, line_search_log, successive_halving
from recommender.ml.splits import stratified_split, temporal_split

PROTOCOLS = ("stratified", "temporal")
# Searched in this order: the cheap ones first, so what they leave of the budget goes to the factor models.
DEFAULT_ALGORITHMS = ("popularity", "item_knn", "ease", "mixture", "als", "ials", "blend", "biased_mf")
BLEND_PARTS = ("ease", "als", "ials", "item_knn", "mixture")
# The blend weighs at most this many parts (the best on validation), each within this share of the best
# part's validation nDCG: a part far behind rarely earns weight, and each one more multiplies the weight grid.
BLEND_MAX_PARTS = 3
BLEND_PART_MIN_SHARE = 0.85

# Validation users scored per split (a seeded sample): enough to tell settings apart, bounded in time.
VALIDATION_USERS = 10_000
# Above this many training interactions one validation split is as informative as two on small data.
LARGE_TRAIN = 500_000
# CPU seconds (all threads) for the whole hyperparameter search, shared out by each algorithm's typical cost:
# unlike wall time, other load on the machine does not shrink what the search gets done in it. A bound, not a
# target: no fit starts that its estimated cost would carry past it. Training uses the same default.
SEARCH_SECONDS = 300.0
SEARCH_SHARES = {"ials": 2.0, "als": 1.0, "ease": 0.5, "item_knn": 0.5, "mixture": 1.0, "biased_mf": 1.0, "blend": 1.5}
# A blend must beat its best part on validation by this many standard errors of the paired difference.
BLEND_MIN_GAIN_SE = 2.0
# Users scored at once: a dense users x items block of scores.
SCORE_BATCH = 4000


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


def dataset_from_matrix(matrix: sp.spmatrix) -> Dataset:
    """The cells of a users x items matrix as a Dataset; its values become ratings when they are not all equal."""
    coo = sp.coo_matrix(matrix)
    coo.sum_duplicates()
    weighted = coo.nnz > 0 and float(coo.data.min()) != float(coo.data.max())
    return Dataset(
        users=coo.row.astype(np.int64),
        items=coo.col.astype(np.int64),
        n_users=int(coo.shape[0]),
        n_items=int(coo.shape[1]),
        ratings=coo.data.astype(np.float64) if weighted else None,
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


def recommend_for_test(
    model: Recommender, train: sp.csr_matrix, test: sp.csr_matrix, *, k: int, exclude: sp.csr_matrix | None = None
) -> np.ndarray:
    """Top-k per user (rows of train), items seen in train excluded, -1 where nothing is left.

    Scored SCORE_BATCH users at a time, so memory stays bounded however many users there are.
    `exclude` (default: train) names the seen items when train holds weights rather than 0/1.
    """
    exclude = train if exclude is None else exclude
    out = np.full((train.shape[0], min(k, train.shape[1])), -1, dtype=np.int64)
    for start in range(0, train.shape[0], SCORE_BATCH):
        stop = min(start + SCORE_BATCH, train.shape[0])
        items, scores = model.recommend(train[start:stop], n=k, exclude=exclude[start:stop])
        out[start:stop] = np.where(np.isfinite(scores), items, -1)
    return out


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
    """An inner train / validation pair carved from the training part.

    `users`: the evaluable validation users, at most `max_users` of them (a sample seeded by `seed`).
    """

    inner_train: Dataset
    validation: Dataset
    max_users: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        self.train_positives = self.inner_train.positives()
        self.valid_positives = self.validation.positives()
        self.users = evaluable_users(self.train_positives, self.valid_positives)
        if self.max_users is not None and len(self.users) > self.max_users:
            rng = np.random.default_rng(self.seed)
            self.users = np.sort(rng.choice(self.users, self.max_users, replace=False))


def validation_folds(
    train: Dataset, *, protocol: str, test_ratio: float, seed: int, folds: int, max_users: int | None = None
) -> list[ValidationFold]:
    """`folds` inner splits of the training part (seeds seed+1, seed+2...; temporal has just one)."""
    count = 1 if protocol == "temporal" else max(1, folds)
    return [
        ValidationFold(
            *split_dataset(train, protocol=protocol, test_ratio=test_ratio, seed=seed + 1 + index),
            max_users=max_users,
            seed=seed + 1 + index,
        )
        for index in range(count)
    ]


def validation_ndcg(name: str, params: dict[str, Any], folds: Sequence[ValidationFold], *, k: int) -> float:
    """Mean over the folds of nDCG@k on the validation users of `name` fitted with `params` on inner train."""
    values = []
    for fold in folds:
        model, _seconds = _fit(name, params, fold.inner_train)
        history = _input_matrix(name, fold.inner_train)[fold.users]
        items = recommend_for_test(model, history, None, k=k, exclude=fold.train_positives[fold.users])
        values.append(ranking_metrics(items, fold.valid_positives[fold.users], k=k)["ndcg"])
    return float(np.mean(values))


def search_algorithm(
    name: str,
    folds: Sequence[ValidationFold],
    *,
    k: int,
    seed: int = 0,
    grid: Sequence[dict[str, Any]] | None = None,
    deadline: float | None = None,
    floor: float | None = None,
    log: Callable[[str], None] = lambda _msg: None,
) -> SearchResult:
    """The setting of `name` with the best validation nDCG@k, by successive halving over a space scaled to
    the folds' data (or over `grid` when given, each point scored once); `floor` as in `successive_halving`."""
    fold_matrix = _input_matrix(name, folds[0].inner_train)
    shape = DataShape.of(fold_matrix)
    with_values = fold_matrix.nnz > 0 and float(fold_matrix.data.min()) != float(fold_matrix.data.max())
    if grid is not None:
        space, levels = list(grid) or [{}], (None,)
    else:
        space, levels = candidates(name, shape, seed=seed, with_values=with_values), levels_for(name)

    def evaluate(params: dict[str, Any]) -> float:
        return validation_ndcg(name, params, folds, k=k)

    if name == "ease" and grid is None:
        # One line search over l2 per way of reading the cells (0/1, and the weights when there are any).
        found = [
            line_search_log(start, "l2", start["l2"], evaluate, deadline=deadline, log=log, label=name)
            for start in space
        ]
        best = max(found, key=lambda result: result.value)
        best.tried = [trial for result in found for trial in result.tried]
        best.cut_short = any(result.cut_short for result in found)
        best.seconds = sum(result.seconds for result in found)
        return best
    return successive_halving(space, evaluate, levels=levels, deadline=deadline, log=log, label=name, floor=floor)


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


def _top_from_scores(scores: np.ndarray, history: sp.csr_matrix, *, k: int) -> np.ndarray:
    from recommender.ml.base import top_n

    masked = np.array(scores, dtype=np.float64)
    rows, cols = history.nonzero()
    masked[rows, cols] = -np.inf
    items, values = top_n(masked, k)
    items = items.copy()
    items[~np.isfinite(values)] = -1
    return items


def _ndcg_from_scores(scores: np.ndarray, history: sp.csr_matrix, relevant: sp.csr_matrix, *, k: int) -> float:
    return ranking_metrics(_top_from_scores(scores, history, k=k), relevant, k=k)["ndcg"]


def weight_grid(names: Sequence[str], *, step: float = 0.1) -> Iterable[dict[str, float]]:
    """All weightings of `names` on a `step` simplex grid (weights sum to 1; a single model is allowed)."""
    units = round(1 / step)
    for combo in itertools.product(range(units + 1), repeat=len(names)):
        if sum(combo) == units:
            yield {name: round(c * step, 6) for name, c in zip(names, combo, strict=True)}


def _normalised(
    validation_scores: dict[str, list[np.ndarray]], folds: Sequence[ValidationFold], method: str
) -> list[dict[str, np.ndarray]]:
    # float32: a blend of four parts over 10,000 users x thousands of items stays within a few hundred MB.
    return [
        {
            n: normalise_scores(validation_scores[n][index], fold.train_positives[fold.users], method=method).astype(
                np.float32
            )
            for n in validation_scores
        }
        for index, fold in enumerate(folds)
    ]


def _blend_total(parts: dict[str, np.ndarray], weights: dict[str, float]) -> np.ndarray:
    total = np.zeros_like(next(iter(parts.values())))
    for name, weight in weights.items():
        if weight:
            total += np.float32(weight) * parts[name]
    return total


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
        normalised = _normalised(validation_scores, folds, method)
        for weights in weight_grid(names, step=step):
            values = []
            for index, fold in enumerate(folds):
                total = _blend_total(normalised[index], weights)
                history, relevant = fold.train_positives[fold.users], fold.valid_positives[fold.users]
                values.append(_ndcg_from_scores(total, history, relevant, k=k))
            ndcg = float(np.mean(values))
            if best is None or ndcg > best[2] + 1e-12:
                best = (weights, method, ndcg)
    assert best is not None
    return best


def blend_gain(
    validation_scores: dict[str, list[np.ndarray]],
    folds: Sequence[ValidationFold],
    weights: dict[str, float],
    *,
    method: str,
    k: int,
) -> tuple[str, float, float]:
    """(best single part, mean per-user nDCG@k gain of the blend over it, standard error of that gain)."""
    normalised = _normalised(validation_scores, folds, method)

    def per_user(weights_: dict[str, float]) -> np.ndarray:
        values = []
        for index, fold in enumerate(folds):
            items = _top_from_scores(_blend_total(normalised[index], weights_), fold.train_positives[fold.users], k=k)
            values.append(ndcg_per_user(items, fold.valid_positives[fold.users], k=k))
        return np.concatenate(values)

    singles = {name: per_user({name: 1.0}) for name in validation_scores}
    best_single = max(singles, key=lambda name: singles[name].mean())  # the first on a tie
    difference = per_user(weights) - singles[best_single]
    stderr = float(difference.std(ddof=1) / np.sqrt(len(difference))) if len(difference) > 1 else 0.0
    return best_single, float(difference.mean()), stderr


def choose_blend(
    parts: dict[str, dict[str, Any]],
    folds: Sequence[ValidationFold],
    *,
    k: int,
    log: Callable[[str], None] = lambda _msg: None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The blend's parameters (weights tuned on `folds`) and what decided them.

    The mix is kept only when it beats the best single part on these validation users by more than
    BLEND_MIN_GAIN_SE standard errors; otherwise that part gets all the weight, so the blend is never
    chosen to be worse than its best component. A single part gets all the weight without a fit.
    """
    if len(parts) == 1:
        ((name, part),) = parts.items()
        decision = f"all weight to {name}: no other part to weigh within the budget"
        log(f"  blend: {decision}")
        return {"components": {name: part}, "weights": {name: 1.0}, "normalise": "zscore"}, {
            "best_part": name,
            "decision": decision,
        }
    kept: dict[str, list[np.ndarray]] = {}
    for name, params in parts.items():
        kept[name] = []
        for fold in folds:
            model, _seconds = _fit(name, params, fold.inner_train)
            scores = np.empty((len(fold.users), fold.inner_train.n_items), dtype=np.float32)
            history = _input_matrix(name, fold.inner_train)[fold.users]
            for start in range(0, len(fold.users), SCORE_BATCH):
                scores[start : start + SCORE_BATCH] = model.score(history[start : start + SCORE_BATCH])
            kept[name].append(scores)
    weights, method, ndcg = tune_blend_weights(kept, folds, k=k)
    best_single, gain, stderr = blend_gain(kept, folds, weights, method=method, k=k)
    mixed = sum(1 for w in weights.values() if w) > 1
    log(f"  blend weights {weights} ({method}): validation nDCG@{k} {ndcg:.4f}; "
        f"gain over {best_single} {gain:+.4f} (standard error {stderr:.4f})")  # fmt: skip
    decision = "mix"
    if mixed and gain <= BLEND_MIN_GAIN_SE * stderr:
        weights = {best_single: 1.0}
        decision = f"all weight to {best_single}: the mix was not clearly better on validation"
        log(f"  blend: {decision}")
    elif not mixed:
        decision = f"all weight to {next(n for n, w in weights.items() if w)}: best on validation alone"
    params = {
        "components": {n: parts[n] for n, w in weights.items() if w},
        "weights": {n: w for n, w in weights.items() if w},
        "normalise": method,
    }
    info = {
        "validation_ndcg": round(ndcg, 4),
        "validation_gain_over_best_part": round(gain, 5),
        "validation_gain_stderr": round(stderr, 5),
        "best_part": best_single,
        "decision": decision,
    }
    return params, info


def blend_parts(validation: dict[str, float]) -> list[str]:
    """The parts a blend weighs: the BLEND_MAX_PARTS best on validation, within BLEND_PART_MIN_SHARE of the best."""
    if not validation:
        raise ValueError("a blend needs at least one searched part")
    ranked = sorted(validation, key=lambda name: (-validation[name], name))
    best = validation[ranked[0]]
    return [name for name in ranked[:BLEND_MAX_PARTS] if validation[name] >= BLEND_PART_MIN_SHARE * best]


def affordable_parts(parts: Sequence[str], costs: dict[str, float], seconds: float | None) -> list[str]:
    """`parts` (best first) whose fits on the blend's split add up to at most `seconds` CPU seconds (None: all).

    The best part is always kept; a part that would overrun is left out, and a cheaper one after it may still fit.
    """
    if not parts:
        raise ValueError("a blend needs at least one part")
    kept, total = [parts[0]], costs.get(parts[0], 0.0)
    for name in parts[1:]:
        if seconds is None or total + costs.get(name, 0.0) <= seconds:
            kept.append(name)
            total += costs.get(name, 0.0)
    return kept


def _search_deadline(started: float, budget: float | None, remaining: Sequence[str]) -> float | None:
    """This algorithm's share of what is left of the search budget (CPU seconds), by SEARCH_SHARES."""
    if budget is None:
        return None
    left = max(0.0, started + budget - time.process_time())
    shares = [SEARCH_SHARES.get(name, 1.0) for name in remaining]
    return time.process_time() + left * shares[0] / sum(shares)


def search_settings(
    train: Dataset,
    *,
    algorithms: Sequence[str],
    protocol: str = "stratified",
    test_ratio: float = 0.25,
    seed: int = 42,
    k: int = 10,
    grids: dict[str, list[dict[str, Any]]] | None = None,
    validation_splits: int | None = None,
    validation_users: int | None = VALIDATION_USERS,
    search_seconds: float | None = SEARCH_SECONDS,
    log: Callable[[str], None] = lambda _msg: None,
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """(algorithm -> the settings its search picked, algorithm -> what the search tried and found) on `train`.

    `train` is split again into inner train and validation parts (see the module docstring); the
    blend's weights come from a further, fresh split. Popularity and content models are not searched.
    """
    grids = grids or {}
    chosen: dict[str, dict[str, Any]] = {}
    tuning: dict[str, dict[str, Any]] = {}
    want_blend = "blend" in algorithms
    searchable = [a for a in algorithms if a not in ("popularity", "blend", "content", "bought_together")]
    to_tune = searchable + [a for a in BLEND_PARTS if want_blend and a not in searchable]
    costs: dict[str, float] = {}  # algorithm -> estimated CPU seconds of one fit and scoring of its chosen settings
    search_started, search_cpu_started = time.perf_counter(), time.process_time()
    if to_tune or want_blend:
        splits = validation_splits or (1 if len(train) > LARGE_TRAIN else 2)
        folds = validation_folds(
            train, protocol=protocol, test_ratio=test_ratio, seed=seed, folds=splits, max_users=validation_users
        )
        if not len(folds[0].users):
            log("too little data to carve a validation split from: nothing searched")
            return chosen, tuning
        log(f"searching on {len(folds)} validation split(s), {len(folds[0].users):,} validation users each")
        for index, name in enumerate(to_tune):
            remaining = to_tune[index:] + (["blend"] if want_blend else [])
            deadline = _search_deadline(search_cpu_started, search_seconds, remaining)
            if _needs_ratings(name):
                if not all(f.validation.ratings is not None for f in folds):
                    continue
                grid = grids.get(name) or candidates(name, DataShape.of(folds[0].train_positives))
                result = tune_algorithm(name, folds, grid=grid, k=k, log=log)
                chosen[name] = result.params
                tuning[name] = {"params": result.params, "validation_rmse": round(-result.validation_ndcg, 4)}
                continue
            log(f"searching {name}")
            # A family whose first, cheap level stays below what a blend part must reach is not refined.
            ranked = [t["validation_ndcg"] for t in tuning.values() if "validation_ndcg" in t]
            floor = BLEND_PART_MIN_SHARE * max(ranked) if ranked else None
            found = search_algorithm(
                name, folds, k=k, seed=seed, grid=grids.get(name), deadline=deadline, floor=floor, log=log
            )
            chosen[name] = found.params
            costs[name] = found.cost
            tuning[name] = {
                "params": found.params,
                "validation_ndcg": round(found.value, 4),
                "search_evaluations": len(found.tried),
                "search_cpu_seconds": round(found.seconds, 1),
                "search_cut_short": found.cut_short,
            }
            log(f"  {name}: {found.params} (validation nDCG@{k} {found.value:.4f}, {len(found.tried)} evaluations, "
                f"{found.seconds:.1f} CPU s{', cut short by the time budget' if found.cut_short else ''})")  # fmt: skip
        if want_blend:
            # A fresh split for the weights: the ones that picked each part's parameters flatter the parts
            # with the largest search spaces (the best of many noisy scores), which would then get too much weight.
            blend_folds = validation_folds(
                train, protocol=protocol, test_ratio=test_ratio, seed=seed + len(folds), folds=1,
                max_users=validation_users,
            )  # fmt: skip
            log("scoring the blend's parts on a fresh validation split")
            started = time.perf_counter()
            parts = blend_parts({n: tuning[n].get("validation_ndcg", 0.0) for n in BLEND_PARTS if n in tuning})
            deadline = _search_deadline(search_cpu_started, search_seconds, ["blend"])
            left = None if deadline is None else deadline - time.process_time()
            affordable = affordable_parts(parts, costs, left)
            if affordable != parts:
                log(f"blend: {', '.join(p for p in parts if p not in affordable)} left out, their fits would overrun "
                    "the budget")  # fmt: skip
            parts = affordable
            log(f"blend parts: {', '.join(parts)}")
            chosen["blend"], info = choose_blend({n: chosen[n] for n in parts}, blend_folds, k=k, log=log)
            tuning["blend"] = {
                "params": chosen["blend"],
                **info,
                "search_seconds": round(time.perf_counter() - started, 1),
            }
        log(f"search took {time.perf_counter() - search_started:.1f} s")
    return chosen, tuning


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
    validation_splits: int | None = None,
    validation_users: int | None = VALIDATION_USERS,
    search_seconds: float | None = SEARCH_SECONDS,
    log: Callable[[str], None] = lambda _msg: None,
) -> dict[str, Any]:
    """Split, search on validation, refit on train, score on test: {"protocol", "k", "results", ...}.

    `grids` (algorithm -> list of settings) replaces the scaled search space of the algorithms it
    names. `validation_splits`: default two, one above LARGE_TRAIN training interactions.
    `search_seconds`: the whole search's budget in CPU seconds of this process (None: unbounded).
    """
    unknown = [a for a in algorithms if a not in ALGORITHMS]
    if unknown:
        raise ValueError(f"unknown algorithm(s) {unknown}; choose from {', '.join(ALGORITHMS)}")
    grids = grids or {}
    train, test = split_dataset(data, protocol=protocol, test_ratio=test_ratio, seed=seed)
    test_m = test.positives()
    log(f"{protocol} split (seed {seed}): {len(train):,} train / {len(test):,} test interactions, "
        f"{data.n_users:,} users x {data.n_items:,} items")  # fmt: skip

    search_started, search_cpu_started = time.perf_counter(), time.process_time()
    chosen, tuning = (
        search_settings(
            train, algorithms=algorithms, protocol=protocol, test_ratio=test_ratio, seed=seed, k=k, grids=grids,
            validation_splits=validation_splits, validation_users=validation_users, search_seconds=search_seconds,
            log=log,
        )
        if tune
        else ({}, {})
    )  # fmt: skip
    # The search alone: what its budget bounds (the final fits and the test scoring below are not part of it).
    search_wall = time.perf_counter() - search_started
    search_cpu = time.process_time() - search_cpu_started

    results: dict[str, dict[str, Any]] = {}
    fitted: dict[str, tuple[Recommender, float, float]] = {}
    for name in algorithms:
        params = chosen.get(name, {})
        log(f"fitting {name} {params or '(defaults)'}")
        if name == "blend":
            model, seconds, cpu = _fit_blend(params, train, fitted)
        else:
            model, seconds = _fit(name, params, train)
            cpu = model.fit_cpu_seconds
            fitted[name] = (model, seconds, cpu)
        history = _input_matrix(name, train)
        metrics = evaluate_fitted(model, history, test_m, k=k)
        metrics["train_seconds"] = seconds
        metrics["train_cpu_seconds"] = cpu
        metrics["params"] = model.get_params()
        extra = tuning.get(name, {})
        metrics.update({key: value for key, value in extra.items() if key != "params"})
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
        "tuned": bool(tuning),
        "search_seconds": round(search_wall, 1) if tuning else 0.0,
        "search_cpu_seconds": round(search_cpu, 1) if tuning else 0.0,
        "search_budget_cpu_seconds": search_seconds,
        "n_users": data.n_users,
        "n_items": data.n_items,
        "n_train": len(train),
        "n_test": len(test),
        "results": results,
    }


def _fit_blend(
    params: dict[str, Any], train: Dataset, fitted: dict[str, tuple[Recommender, float, float]]
) -> tuple[Recommender, float, float]:
    """A blend whose parts reuse the models already fitted on train with the same settings.

    Its fit time is that of all its parts, reused or not: what training the blend alone costs.
    """
    blend = make_recommender("blend", **params)
    models: dict[str, Recommender] = {}
    seconds = cpu = 0.0
    for name in blend._active():
        reusable = fitted.get(name)
        part_params = make_recommender(name, **blend.components[name]).get_params()
        if reusable is not None and reusable[0].get_params() == part_params:
            models[name], part_seconds, part_cpu = reusable
        else:
            models[name], part_seconds = _fit(name, blend.components[name], train)
            part_cpu = models[name].fit_cpu_seconds
        seconds += part_seconds
        cpu += part_cpu
    blend.models = models
    blend.n_items = train.n_items
    return blend, seconds, cpu


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
    grid = candidates("biased_mf", DataShape(data.n_users, data.n_items, len(data))) if grid is None else grid
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
