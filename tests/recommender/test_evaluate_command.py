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
    assert "searching ease" in err


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


def test_a_compressed_invoice_file_is_read_as_implicit_purchases(tmp_path):
    """Online Retail's shape: gzip, stock codes with letters, customer ids as floats with gaps, date strings."""
    rng = np.random.default_rng(3)
    rows = []
    for customer in range(30):
        codes = (
            ["85123A", "71053", "84406B", "22752", "21730"] if customer % 2 else ["22633", "22632", "84879", "21754"]
        )
        for code in rng.choice(codes, 3, replace=False):
            rows.append((f"5363{customer:02d}", code, float(12000 + customer), f"2011-0{1 + customer % 9}-01 08:26:00"))
    rows.append(("536400", "POST", None, "2011-01-01 09:00:00"))  # no customer: left out
    path = tmp_path / "invoices.csv.gz"
    pd.DataFrame(rows, columns=["InvoiceNo", "StockCode", "CustomerID", "InvoiceDate"]).to_csv(path, index=False)
    out, _ = _run(
        "--csv", str(path), "--user-col", "CustomerID", "--item-col", "StockCode", "--time-col", "InvoiceDate",
        "--algorithms", "popularity,ease", "--k", "3", "--json",
    )  # fmt: skip
    report = json.loads(out)
    assert (report["n_users"], report["n_items"]) == (30, 9)
    assert report["n_train"] + report["n_test"] == 90
    assert report["results"]["ease"]["ndcg"] > report["results"]["popularity"]["ndcg"]
