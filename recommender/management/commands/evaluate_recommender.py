"""python manage.py evaluate_recommender (--movielens DIR | --csv FILE --user-col C --item-col C
[--rating-col C] [--time-col C] | --db) [--protocol stratified|temporal] [--test-ratio 0.25] [--seed 42]
[--k 10] [--algorithms a,b] [--json]"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from django.core.management.base import BaseCommand, CommandError

from recommender.ml.datasets import load_movielens, load_movielens_titles
from recommender.ml.evaluation import (
    DEFAULT_ALGORITHMS,
    PROTOCOLS,
    Dataset,
    dataset_from_frame,
    run_evaluation,
    split_dataset,
)
from recommender.ml.registry import ALGORITHMS

# Need something besides the user x item matrix; evaluated only when that is available.
NEEDS_TEXT = {"content"}
NEEDS_RATINGS = {name for name, cls in ALGORITHMS.items() if getattr(cls, "needs_ratings", False)}
NOT_USER_ITEM = {"bought_together"}  # fitted on order baskets, not on users


def movielens_dataset(directory: Path) -> Dataset:
    data = dataset_from_frame(
        load_movielens(directory), user_col="user", item_col="item", rating_col="rating", time_col="timestamp"
    )
    try:
        titles = load_movielens_titles(directory).set_index("item")
    except FileNotFoundError:
        return data
    text = titles.reindex(data.item_ids)
    data.item_text = (text["title"].fillna("") + " " + text["genres"].fillna("").str.replace("|", " ")).tolist()
    return data


def csv_dataset(path: Path, *, user_col: str, item_col: str, rating_col: str | None, time_col: str | None) -> Dataset:
    columns = [c for c in (user_col, item_col, rating_col, time_col) if c]
    try:
        frame = pd.read_csv(path, usecols=columns)
    except ValueError as error:  # a named column is missing
        raise CommandError(f"{path}: {error}") from None
    frame = frame.dropna(subset=[user_col, item_col])
    if rating_col:
        ratings = pd.to_numeric(frame[rating_col], errors="coerce")
        _refuse_unreadable(frame[rating_col], ratings, f"--rating-col {rating_col}", "numbers")
        frame[rating_col] = ratings
    if time_col:
        times = _parse_times(frame[time_col])
        _refuse_unreadable(frame[time_col], times, f"--time-col {time_col}", "times")
        frame[time_col] = times
    return dataset_from_frame(frame, user_col=user_col, item_col=item_col, rating_col=rating_col, time_col=time_col)


def _parse_times(raw: pd.Series) -> pd.Series:
    """Numbers (epoch stamps, as read for an all-numeric column) and date strings, in one column or mixed."""
    numeric = pd.to_numeric(raw, errors="coerce")
    times = pd.to_datetime(numeric, utc=True)
    text = numeric.isna() & raw.notna()
    if text.any():
        # ISO 8601 first (one vectorised parse); "mixed" guesses each string's format, a minute per million rows.
        strings = raw[text].astype(str)
        parsed = pd.to_datetime(strings, utc=True, errors="coerce", format="ISO8601")
        other = parsed.isna()
        if other.any():
            parsed[other] = pd.to_datetime(strings[other], utc=True, errors="coerce", format="mixed")
        times[text] = parsed
    return times


def _refuse_unreadable(raw: pd.Series, parsed: pd.Series, column: str, what: str) -> None:
    """A value that cannot be read would silently become a gap (NaN / NaT): name how many, and stop."""
    bad = raw.notna() & parsed.isna()
    if bad.any():
        example = raw[bad].iloc[0]
        raise CommandError(
            f"{column}: {int(bad.sum()):,} of {len(raw):,} rows cannot be read as {what} (first: {example!r}); "
            "fix or remove them"
        )


def database_dataset() -> Dataset:
    """Merchandise interactions from the database; ratings only when every pair has one."""
    from recommender.selectors import interactions_frame

    frame = interactions_frame()
    frame = frame[frame["is_merchandise"] & (frame["kind"] != "return")]
    ratings = frame[frame["kind"] == "rating"].groupby(["customer", "product"])["value"].last()
    pairs = frame.sort_values("occurred_at", kind="stable").drop_duplicates(["customer", "product"], keep="last")
    rating_col = None
    if len(ratings) and len(ratings) == len(pairs):
        pairs = pairs.drop(columns="value").join(ratings, on=["customer", "product"])
        rating_col = "value"
    return dataset_from_frame(
        pairs, user_col="customer", item_col="product", rating_col=rating_col, time_col="occurred_at"
    )


def format_table(report: dict[str, Any]) -> str:
    k = report["k"]
    header = f"{'algorithm':<16}{'nDCG@' + str(k):>9}{'P@' + str(k):>8}{'R@' + str(k):>8}{'MAP':>8}{'cover':>8}"
    header += f"{'train s':>9}{'RMSE':>8}{'MAE':>8}"
    lines = [
        f"{report['protocol']} split, seed {report['seed']}, test ratio {report['test_ratio']}: "
        f"{report['n_users']:,} users x {report['n_items']:,} items, "
        f"{report['n_train']:,} train / {report['n_test']:,} test interactions",
        header,
        "-" * len(header),
    ]
    for name, r in report["results"].items():
        rating = f"{r['rmse']:>8.4f}{r['mae']:>8.4f}" if "rmse" in r else f"{'-':>8}{'-':>8}"
        lines.append(
            f"{name:<16}{r['ndcg']:>9.4f}{r['precision']:>8.4f}{r['recall']:>8.4f}{r['map']:>8.4f}"
            f"{r['coverage']:>8.4f}{r['train_seconds']:>9.2f}{rating}"
        )
    lines.append("")
    lines.append("MAP: recommenders' `map` (AP over the relevant items); hyperparameters searched on validation")
    lines.append("splits of the training part only, in spaces scaled to this data. Chosen parameters: --json.")
    return "\n".join(lines)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float):
        return round(value, 6)
    return value


class Command(BaseCommand):
    help = (
        "Offline evaluation of the recommendation algorithms (microsoft/recommenders protocol by default: "
        "each user's interactions split 75/25 at random, items seen in training excluded, every held-out item "
        "relevant). Every algorithm's hyperparameters come from a search on validation splits of the training "
        "part (spaces scaled to the data, successive halving, a CPU-time budget), never from the test split."
    )

    def add_arguments(self, parser):
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument(
            "--movielens", metavar="DIR", help="MovieLens folder (ml-100k u.data or ml-1m ratings.dat)."
        )
        source.add_argument("--csv", metavar="FILE", help="Any CSV with one interaction per row; name its columns.")
        source.add_argument("--db", action="store_true", help="The shop's interactions in the database.")
        parser.add_argument("--user-col", help="CSV column holding the user id.")
        parser.add_argument("--item-col", help="CSV column holding the item id.")
        parser.add_argument("--rating-col", help="CSV column holding an explicit rating (enables biased_mf).")
        parser.add_argument("--time-col", help="CSV column holding the time (needed by --protocol temporal).")
        parser.add_argument("--protocol", choices=PROTOCOLS, default="stratified")
        parser.add_argument(
            "--test-ratio", type=float, default=0.25, help="Share of each user's interactions held out."
        )
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--k", type=int, default=10)
        parser.add_argument(
            "--algorithms",
            help=f"Comma-separated, from: {', '.join(sorted(set(ALGORITHMS) - NOT_USER_ITEM))}. "
            "Default: every one the data supports.",
        )
        parser.add_argument("--json", action="store_true", help="Print one JSON document on stdout and nothing else.")

    def handle(self, *args, **options):
        if not 0 < options["test_ratio"] < 1:
            raise CommandError("--test-ratio must be between 0 and 1")
        if options["k"] < 1:
            raise CommandError("--k must be at least 1")
        data = self._dataset(options)
        if len(data) == 0:
            raise CommandError("no interactions to evaluate")
        if options["protocol"] == "temporal" and data.times is None:
            raise CommandError("--protocol temporal needs interaction times (--time-col for a CSV)")
        algorithms = self._algorithms(options["algorithms"], data)
        train, _ = split_dataset(
            data, protocol=options["protocol"], test_ratio=options["test_ratio"], seed=options["seed"]
        )
        if len(train) == 0:
            raise CommandError(
                f"--test-ratio {options['test_ratio']} leaves no interactions to train on; choose a smaller ratio"
            )

        def log(message: str) -> None:
            self.stderr.write(message)
            self.stderr.flush()

        try:
            report = run_evaluation(
                data,
                protocol=options["protocol"],
                test_ratio=options["test_ratio"],
                seed=options["seed"],
                k=options["k"],
                algorithms=algorithms,
                log=log,
            )
        except ValueError as error:
            raise CommandError(str(error)) from None
        if options["json"]:
            self.stdout.write(json.dumps(_jsonable(report)))
        else:
            self.stdout.write(format_table(report))

    def _dataset(self, options: dict[str, Any]) -> Dataset:
        if options["movielens"]:
            directory = Path(options["movielens"])
            if not directory.is_dir():
                raise CommandError(f"{directory} is not a directory")
            try:
                return movielens_dataset(directory)
            except FileNotFoundError as error:
                raise CommandError(str(error)) from None
        if options["csv"]:
            if not options["user_col"] or not options["item_col"]:
                raise CommandError("--csv needs --user-col and --item-col")
            path = Path(options["csv"])
            if not path.exists():
                raise CommandError(f"{path} does not exist")
            if not path.is_file():
                raise CommandError(f"{path} is not a file (--csv takes one CSV file)")
            return csv_dataset(
                path,
                user_col=options["user_col"],
                item_col=options["item_col"],
                rating_col=options["rating_col"],
                time_col=options["time_col"],
            )
        return database_dataset()

    def _algorithms(self, requested: str | None, data: Dataset) -> list[str]:
        def supported(name: str) -> str | None:
            if name in NOT_USER_ITEM:
                return "it is fitted on order baskets, not on users"
            if name in NEEDS_RATINGS and data.ratings is None:
                return "it needs ratings (--rating-col)"
            if name in NEEDS_TEXT and data.item_text is None:
                return "it needs item text (MovieLens u.item)"
            return None

        if requested is None:
            names = list(DEFAULT_ALGORITHMS)
            if data.item_text is not None:
                names.append("content")
            return [n for n in names if supported(n) is None]
        names = [n.strip() for n in requested.split(",") if n.strip()]
        unknown = [n for n in names if n not in ALGORITHMS]
        if unknown:
            raise CommandError(
                f"unknown algorithm(s) {', '.join(unknown)}; choose from {', '.join(sorted(ALGORITHMS))}"
            )
        for name in names:
            reason = supported(name)
            if reason:
                raise CommandError(f"cannot evaluate {name}: {reason}")
        return names
