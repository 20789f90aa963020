"""Training takes its settings from a search on validation splits of the shop's own data, and reuses them."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from recommender.models import TrainingRun
from recommender.services import search_is_stale, train_model

pytestmark = pytest.mark.django_db


def test_a_searched_run_trains_with_the_settings_the_search_picked(shop):
    run = train_model(algorithm="ease", search=True)
    assert run.status == "succeeded", run.error
    assert run.search["source"] == "search"
    assert run.search["interactions"] == 280
    assert run.search["search_evaluations"] >= 2
    # The model was fitted with the searched l2, not EASE's default of 500.
    assert run.parameters["l2"] == run.search["params"]["l2"] != 500.0


def test_later_runs_reuse_the_latest_search_until_it_is_stale(shop):
    searched = train_model(algorithm="ease", search=True)
    reused = train_model(algorithm="ease", search=False)
    assert reused.search == {"source": "run", "run": searched.pk}
    assert reused.parameters["l2"] == searched.parameters["l2"]
    # Auto (the nightly default) reuses a fresh search on data of the same size ...
    auto = train_model(algorithm="ease", search=None)
    assert auto.search["source"] == "run"
    # ... and searches again once it is older than RECOMMENDER_SEARCH_MAX_AGE_DAYS.
    TrainingRun.objects.filter(pk=searched.pk).update(finished_at=timezone.now() - timedelta(days=8))
    again = train_model(algorithm="ease", search=None)
    assert again.search["source"] == "search"


def test_given_parameters_win_and_no_search_means_defaults(shop):
    given = train_model(algorithm="ease", params={"l2": 7.0}, search=True)
    assert given.parameters["l2"] == 7.0 and given.search == {"source": "given"}
    plain = train_model(algorithm="item_knn", search=False)
    assert plain.search == {} and plain.parameters["k"] == 200  # nothing searched yet: the defaults


def test_a_search_is_stale_when_the_data_grew_or_shrank_a_lot(db, settings):
    settings.RECOMMENDER_SEARCH_DATA_CHANGE = 1.5
    run = TrainingRun(finished_at=timezone.now(), search={"source": "search", "interactions": 1000})
    assert not search_is_stale(run, n_interactions=1400)
    assert search_is_stale(run, n_interactions=1600)
    assert search_is_stale(run, n_interactions=600)
    assert search_is_stale(None, n_interactions=1000)


def test_the_command_searches_and_reports_where_the_settings_came_from(shop, capsys):
    import json

    call_command("train_recommender", "--algorithm", "ease", "--search", "--json")
    summary = json.loads(capsys.readouterr().out)
    assert summary["search"]["source"] == "search"
    assert summary["parameters"]["l2"] == summary["search"]["params"]["l2"]
    call_command("train_recommender", "--algorithm", "ease", "--no-search", "--json")
    assert json.loads(capsys.readouterr().out)["search"] == {"source": "run", "run": summary["run"]}
