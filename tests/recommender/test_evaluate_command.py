import io
import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from django.core.management import CommandError, call_command

from recommender.selectors import interactions_frame
from tests.factories import CustomerFactory, InteractionFactory, ProductFactory

METRICS = {"precision", "recall", "ndcg", "map", "coverage", "train_seconds"}


@pytest.fixture
def ratings_csv(tmp_path):
    """40 users, 25 items, two tastes, ratings and times: enough for every algorithm to run."""
    rng = np.random.default_rng(0)
    rows = []
    for user in range(40):
        liked = np.arange(12) if user % 2 else np.arange(12, 25)
        for item in rng.choice(liked, 8, replace=False):
            rows.append((f"u{user}", f"m{item}", int(rng.integers(3, 6)), 1_700_000_000 + int(rng.integers(0, 10**6))))
    path = tmp_path / "ratings.csv"
    pd.DataFrame(rows, columns=["who", "what", "stars", "when"]).to_csv(path, index=False)
    return path


def _run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("evaluate_recommender", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_json_output_is_one_document_with_every_algorithms_metrics(ratings_csv):
    out, err = _run(
        "--csv", str(ratings_csv), "--user-col", "who", "--item-col", "what", "--rating-col", "stars",
        "--algorithms", "popularity,item_knn,ease,biased_mf", "--k", "5", "--json",
    )  # fmt: skip
    report = json.loads(out)
    assert report["protocol"] == "stratified"
    assert report["k"] == 5
    assert list(report["results"]) == ["popularity", "item_knn", "ease", "biased_mf"]
    for metrics in report["results"].values():
        assert set(metrics) >= METRICS
        assert 0 <= metrics["ndcg"] <= 1 and 0 <= metrics["precision"] <= 1
    assert {"rmse", "mae"} <= set(report["results"]["biased_mf"])
    # Tuned on validation; the progress goes to stderr, never into the JSON on stdout.
    assert "validation_ndcg" in report["results"]["ease"]
    assert "tuning ease" in err


def test_default_output_is_a_table(ratings_csv):
    out, _ = _run(
        "--csv", str(ratings_csv), "--user-col", "who", "--item-col", "what", "--algorithms", "popularity,ease"
    )
    lines = out.splitlines()
    assert lines[1].split()[:3] == ["algorithm", "nDCG@10", "P@10"]
    assert any(line.startswith("popularity") for line in lines)
    assert any(line.startswith("ease") for line in lines)


def test_temporal_protocol_needs_a_time_column(ratings_csv):
    base = ["--csv", str(ratings_csv), "--user-col", "who", "--item-col", "what", "--protocol", "temporal"]
    with pytest.raises(CommandError, match="time"):
        _run(*base, "--algorithms", "popularity")
    out, _ = _run(*base, "--time-col", "when", "--algorithms", "popularity", "--json")
    assert json.loads(out)["protocol"] == "temporal"


def test_bad_arguments_are_clear_errors(ratings_csv):
    with pytest.raises(CommandError, match="--user-col"):
        _run("--csv", str(ratings_csv))
    with pytest.raises(CommandError, match="unknown algorithm"):
        _run("--csv", str(ratings_csv), "--user-col", "who", "--item-col", "what", "--algorithms", "svd")
    with pytest.raises(CommandError, match="ratings"):
        _run("--csv", str(ratings_csv), "--user-col", "who", "--item-col", "what", "--algorithms", "biased_mf")


@pytest.mark.django_db
def test_db_source_reads_merchandise_interactions():
    start = datetime(2025, 1, 1, tzinfo=UTC)
    products = [ProductFactory() for _ in range(8)]
    postage = ProductFactory(is_merchandise=False)
    for index in range(12):
        customer = CustomerFactory()
        for offset, product in enumerate(products[index % 2 :: 2]):
            InteractionFactory(
                customer=customer, product=product, kind="purchase", occurred_at=start + timedelta(offset)
            )
        InteractionFactory(customer=customer, product=postage, kind="purchase", occurred_at=start)
    frame = interactions_frame()
    assert set(frame.columns) >= {"customer", "product", "kind", "value", "quantity", "occurred_at", "is_merchandise"}
    assert len(frame) == 12 * 5
    out, _ = _run("--db", "--algorithms", "popularity,item_knn", "--json")
    report = json.loads(out)
    assert report["n_items"] == 8  # the postage line is not a product to recommend
    assert set(report["results"]) == {"popularity", "item_knn"}


def test_unreadable_input_is_a_clear_error(ratings_csv, tmp_path):
    base = ["--user-col", "who", "--item-col", "what", "--algorithms", "popularity"]
    with pytest.raises(CommandError, match="not a file"):
        _run("--csv", str(tmp_path), *base)
    with pytest.raises(CommandError, match="leaves no interactions to train on"):
        _run("--csv", str(ratings_csv), *base, "--test-ratio", "0.99")
    frame = pd.read_csv(ratings_csv).astype(object)
    frame.loc[:2, "stars"] = "five"
    frame.loc[:3, "when"] = "yesterday-ish"
    bad = tmp_path / "bad.csv"
    frame.to_csv(bad, index=False)
    with pytest.raises(CommandError, match=r"--rating-col stars: 3 of 320 rows cannot be read as numbers"):
        _run("--csv", str(bad), *base, "--rating-col", "stars")
    with pytest.raises(CommandError, match=r"--time-col when: 4 of 320 rows cannot be read as times"):
        _run("--csv", str(bad), *base, "--time-col", "when", "--protocol", "temporal")
