"""The serving API: business rules, cold start, fold-in, errors and the cost of a request."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from recommender.models import ServedRecommendation
from recommender.serving import log
from recommender.serving.log import parse_recommendation_id
from segments.models import Membership, Segment, SegmentationDefinition, SegmentationRun
from shop.models import Interaction, InteractionKind, Product
from tests.factories import CustomerFactory, InteractionFactory, ProductFactory

pytestmark = pytest.mark.django_db

GROUP_A = {f"P{i:02d}" for i in range(12)}
GROUP_B = {f"P{i:02d}" for i in range(12, 24)}


def recommend(client, external_id, **params):
    response = client.get(f"/api/v1/recommendations/{external_id}", params)
    assert response.status_code == 200, response.content
    return response.json()


def skus(payload):
    return [r["sku"] for r in payload["results"]]


def bought_skus(external_id):
    return set(
        Interaction.objects.filter(customer__external_id=external_id, kind=InteractionKind.PURCHASE).values_list(
            "product__sku", flat=True
        )
    )


def active_segment(name, customers):
    definition = SegmentationDefinition.objects.create(name=f"{name} segmentation", method="rules")
    run = SegmentationRun.objects.create(definition=definition, method="rules", status="succeeded")
    SegmentationDefinition.objects.filter(pk=definition.pk).update(active_run=run)
    segment = Segment.objects.create(run=run, key=name.lower(), name=name)
    Membership.objects.bulk_create([Membership(segment=segment, customer=c) for c in customers])
    return segment


def test_known_customer_gets_personal_recommendations_with_reasons_and_an_id(api_client, trained):
    payload = recommend(api_client, "c00", n=5)
    assert payload["strategy"] == "personal"
    assert len(payload["results"]) == 5
    assert set(skus(payload)) <= GROUP_A  # the model learnt the customer's taste group
    assert all(r["reason"].startswith("because you ") for r in payload["results"])
    assert all(r["name"] and isinstance(r["score"], float) for r in payload["results"])
    assert parse_recommendation_id(payload["recommendation_id"]) == (trained.pk, trained_customer_pk("c00"))


def trained_customer_pk(external_id):
    from shop.models import Customer

    return Customer.objects.get(external_id=external_id).pk


def test_never_recommends_what_the_customer_bought(api_client, trained):
    for external_id in ("c00", "c05", "c25"):
        payload = recommend(api_client, external_id, n=20)
        assert payload["results"]
        assert not set(skus(payload)) & bought_skus(external_id)


def test_viewed_products_may_come_back_when_only_purchases_are_excluded(api_client, trained):
    viewed = set(
        Interaction.objects.filter(customer__external_id="c00", kind="view").values_list("product__sku", flat=True)
    )
    assert set(skus(recommend(api_client, "c00", n=20))) & viewed


def test_bought_exclusion_is_configurable_per_kind(api_client, shop, settings):
    from recommender.services import train_model

    settings.RECOMMENDER_EXCLUDE_KINDS = ["purchase", "view"]
    train_model(algorithm="ease", params={"l2": 10.0})
    seen = set(Interaction.objects.filter(customer__external_id="c00").values_list("product__sku", flat=True))
    assert not set(skus(recommend(api_client, "c00", n=20))) & seen


def test_inactive_out_of_stock_and_non_merchandise_products_are_never_served(api_client, trained):
    first = skus(recommend(api_client, "c00", n=4))
    Product.objects.filter(sku=first[0]).update(is_active=False)
    Product.objects.filter(sku=first[1]).update(stock=0)
    Product.objects.filter(sku=first[2]).update(is_merchandise=False)
    Product.objects.filter(sku=first[3]).update(stock=None)  # untracked stock counts as in stock
    after = skus(recommend(api_client, "c00", n=10))
    assert not set(after) & set(first[:3])
    assert first[3] in after


def test_category_filter_returns_only_that_category(api_client, trained):
    payload = recommend(api_client, "c00", n=10, category="games")
    assert payload["results"]
    codes = set(Product.objects.filter(sku__in=skus(payload)).values_list("category__code", flat=True))
    assert codes == {"games"}


def test_unknown_category_is_a_400(api_client, trained):
    response = api_client.get("/api/v1/recommendations/c00", {"category": "nope"})
    assert response.status_code == 400
    assert "category" in response.json()


def test_exclude_parameter_leaves_those_skus_out(api_client, trained):
    first = skus(recommend(api_client, "c00", n=3))
    after = skus(recommend(api_client, "c00", n=3, exclude=",".join(first[:2])))
    assert not set(after) & set(first[:2])
    assert len(after) == 3


def test_cap_per_category_spreads_the_list(api_client, trained):
    payload = recommend(api_client, "c00", n=10, max_per_category=1)
    categories = list(Product.objects.filter(sku__in=skus(payload)).values_list("category__code", flat=True))
    assert len(categories) == len(set(categories)) == 3  # three categories in the shop, one each


def test_customer_without_history_gets_their_segments_favourites(api_client, shop):
    from recommender.services import train_model

    newbie = CustomerFactory(external_id="newbie")
    active_segment("Bookworms", [*shop["customers"][:20], newbie])
    train_model(algorithm="ease", params={"l2": 10.0})
    payload = recommend(api_client, "newbie", n=5)
    assert payload["strategy"] == "segment"
    assert {r["reason"] for r in payload["results"]} == {"popular in your segment Bookworms"}
    assert set(skus(payload)) <= GROUP_A


def test_segment_created_after_training_is_used_too(api_client, trained, shop):
    newbie = CustomerFactory(external_id="newbie")
    active_segment("Gamers", [*shop["customers"][20:], newbie])
    payload = recommend(api_client, "newbie", n=5)
    assert payload["strategy"] == "segment"
    assert set(skus(payload)) <= GROUP_B
    assert payload["results"][0]["reason"] == "popular in your segment Gamers"


def test_customer_without_history_or_segment_gets_popular_products(api_client, trained):
    CustomerFactory(external_id="loner")
    payload = recommend(api_client, "loner", n=5)
    assert payload["strategy"] == "popular"
    assert len(payload["results"]) == 5
    assert {r["reason_code"] for r in payload["results"]} <= {"trending", "popular"}


def test_unknown_customer_is_200_with_the_cold_start_reason(api_client, trained):
    payload = recommend(api_client, "never-seen", n=3)
    assert payload["strategy"] == "popular"
    assert len(payload["results"]) == 3
    assert payload["results"][0]["reason"] in {"trending", "popular"}


def test_serves_popular_products_before_any_model_is_trained(api_client, shop):
    payload = recommend(api_client, "c00", n=3)
    assert payload["model"] is None
    assert len(payload["results"]) == 3
    assert not set(skus(payload)) & bought_skus("c00")


def test_new_events_fold_in_without_a_retrain(api_client, trained):
    customer = CustomerFactory(external_id="fresh")
    assert recommend(api_client, "fresh", n=5)["strategy"] == "popular"
    now = timezone.now()
    for i, sku in enumerate(("P12", "P15", "P18")):
        InteractionFactory(
            customer=customer, product=Product.objects.get(sku=sku), kind="purchase", occurred_at=now + timedelta(i)
        )
    payload = recommend(api_client, "fresh", n=5)
    assert payload["strategy"] == "fold_in"
    assert payload["model"] == trained.pk
    assert set(skus(payload)) <= GROUP_B - {"P12", "P15", "P18"}
    assert any(r["reason"].startswith("because you bought Product 1") for r in payload["results"])


def test_a_purchase_after_training_is_excluded_at_once(api_client, trained):
    top = skus(recommend(api_client, "c00", n=1))[0]
    InteractionFactory(customer__external_id="c00", product=Product.objects.get(sku=top), kind="purchase")
    assert top not in skus(recommend(api_client, "c00", n=10))


@pytest.mark.parametrize("n", ["0", "101", "ten", "-1"])
def test_n_out_of_range_is_a_400(api_client, trained, n):
    response = api_client.get("/api/v1/recommendations/c00", {"n": n})
    assert response.status_code == 400
    assert "n" in response.json()


def test_requires_an_api_key(anon_client, trained):
    response = anon_client.get("/api/v1/recommendations/c00")
    assert response.status_code == 401
    bad = anon_client.get("/api/v1/recommendations/c00", HTTP_AUTHORIZATION="Api-Key wrong")
    assert bad.status_code == 401


def test_throttled_client_gets_429(api_client, trained, api_key):
    from shop.models import ApiClient, hash_api_key

    ApiClient.objects.filter(key_hash=hash_api_key(api_key)).update(throttle_rate="2/minute")
    codes = [api_client.get("/api/v1/recommendations/c00").status_code for _ in range(3)]
    assert codes == [200, 200, 429]


def test_known_customer_costs_one_query_between_refreshes(api_client, trained, settings, django_assert_num_queries):
    settings.RECOMMENDER_REFRESH_SECONDS = 3600
    recommend(api_client, "c00")  # loads the model and the catalog; caches the API key
    with django_assert_num_queries(1):  # the customer and their precomputed list, together
        payload = recommend(api_client, "c01")
    assert payload["strategy"] == "personal"


def test_unknown_customer_costs_one_query(api_client, trained, settings, django_assert_num_queries):
    settings.RECOMMENDER_REFRESH_SECONDS = 3600
    recommend(api_client, "c00")
    with django_assert_num_queries(1):  # the lookup that finds no customer
        recommend(api_client, "nobody")


def test_customer_with_new_events_costs_two_queries(api_client, trained, settings, django_assert_num_queries):
    InteractionFactory(customer__external_id="c02", product=Product.objects.get(sku="P20"), kind="view")
    settings.RECOMMENDER_REFRESH_SECONDS = 3600
    recommend(api_client, "c00")
    with django_assert_num_queries(2):  # the customer; their current history, for fold-in
        payload = recommend(api_client, "c02")
    assert payload["strategy"] == "fold_in"


def test_refresh_costs_a_few_queries_per_interval(api_client, trained, settings, django_assert_max_num_queries):
    recommend(api_client, "c00")
    # active run; newest event id; (new events); catalog and categories
    with django_assert_max_num_queries(5):
        recommend(api_client, "c01")


def test_served_recommendations_are_logged_for_attribution(api_client, trained):
    payload = recommend(api_client, "c00", n=3)
    assert log.flush() == 1
    served = ServedRecommendation.objects.get(recommendation_id=payload["recommendation_id"])
    assert served.customer.external_id == "c00"
    assert served.run_id == trained.pk
    assert served.skus == skus(payload)


def test_similar_products(api_client, trained):
    response = api_client.get("/api/v1/products/P00/similar", {"n": 5})
    assert response.status_code == 200
    payload = response.json()
    assert 0 < len(payload["results"]) <= 5
    assert "P00" not in skus(payload)
    assert set(skus(payload)) <= GROUP_A
    assert payload["results"][0]["reason"] == "similar to Product 00"


def test_similar_and_bought_together_for_unknown_sku_are_404(api_client, trained):
    assert api_client.get("/api/v1/products/NOPE/similar").status_code == 404
    assert api_client.get("/api/v1/products/NOPE/bought-together").status_code == 404


def test_bought_together_lists_products_from_the_same_orders(api_client, shop):
    from recommender.services import train_model

    p00, p13 = Product.objects.get(sku="P00"), Product.objects.get(sku="P13")
    for i, customer in enumerate(shop["customers"][:3]):
        for product in (p00, p13):
            InteractionFactory(customer=customer, product=product, kind="purchase", order_ref=f"basket-{i}")
    train_model(algorithm="ease", params={"l2": 10.0})
    response = api_client.get("/api/v1/products/P00/bought-together")
    assert response.status_code == 200
    payload = response.json()
    assert skus(payload)[0] == "P13"
    assert payload["results"][0]["reason"] == "often bought with Product 00"
    assert "P00" not in skus(payload)


def test_popular_filters_by_category_and_days(api_client, trained):
    payload = api_client.get("/api/v1/popular", {"n": 5, "category": "books"}).json()
    codes = set(Product.objects.filter(sku__in=skus(payload)).values_list("category__code", flat=True))
    assert codes == {"books"}
    # Seed events are from mid-2025; a fresh one makes its product the only one trending this week.
    new = ProductFactory(sku="NEW1", name="New thing")
    InteractionFactory(product=new, occurred_at=timezone.now())
    recent = api_client.get("/api/v1/popular", {"days": 7}).json()
    assert skus(recent) == ["NEW1"]
    assert recent["results"][0]["reason"] == "popular in the last 7 days"


def test_schema_documents_the_endpoints(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").content.decode()
    for path in (
        "/api/v1/recommendations/{external_id}",
        "/api/v1/products/{sku}/similar",
        "/api/v1/products/{sku}/bought-together",
        "/api/v1/popular",
    ):
        assert path in schema


def test_log_is_written_in_the_background_once_due(api_client, trained, settings, transactional_db):
    settings.RECOMMENDER_LOG_BATCH = 2
    first = recommend(api_client, "c00")
    second = recommend(api_client, "c01")
    for _ in range(200):  # the writer thread; wait for it, whatever the machine's speed
        if not log._flushing.is_set() and ServedRecommendation.objects.count() == 2:
            break
        time.sleep(0.05)
    assert set(ServedRecommendation.objects.values_list("recommendation_id", flat=True)) == {
        first["recommendation_id"],
        second["recommendation_id"],
    }


def test_deleted_customer_never_gets_their_personal_list(api_client, trained):
    from shop.models import Customer

    assert recommend(api_client, "c00")["strategy"] == "personal"
    Customer.objects.filter(external_id="c00").delete()
    gone = recommend(api_client, "c00")
    assert gone["strategy"] == "popular"
    assert not any(r["reason"].startswith("because you") for r in gone["results"])
    CustomerFactory(external_id="c00")  # a new customer re-using the id: nothing of the old one's
    again = recommend(api_client, "c00")
    assert again["strategy"] == "popular"
    assert not any(r["reason"].startswith("because you") for r in again["results"])


def test_catalog_refresh_swaps_a_new_state_and_leaves_the_old_one_whole(trained):
    from recommender.serving import engine

    before = engine.current_state()
    p00 = Product.objects.get(sku="P00")
    Product.objects.filter(pk=p00.pk).update(is_active=False)
    after = engine.current_state()
    assert after is not before
    assert p00.pk in before.sellable  # a request still holding the old state sees one consistent catalog
    assert p00.pk not in after.sellable


def test_stub_products_are_never_served(api_client, trained):
    Product.objects.filter(sku__in=GROUP_A | GROUP_B).update(is_stub=True, name="")
    ProductFactory(sku="REAL", name="Real thing")
    assert skus(recommend(api_client, "c00", n=5)) == []
    stub_free = api_client.get("/api/v1/popular", {"n": 5}).json()
    assert skus(stub_free) == []


def test_segment_created_after_training_reads_its_members_once(
    api_client, trained, shop, settings, django_assert_num_queries
):
    newbie = CustomerFactory(external_id="newbie")
    active_segment("Gamers", [*shop["customers"][20:], newbie])
    settings.RECOMMENDER_REFRESH_SECONDS = 3600
    assert recommend(api_client, "newbie")["strategy"] == "segment"
    with django_assert_num_queries(3):  # the customer; their segments; what they bought
        assert recommend(api_client, "newbie")["strategy"] == "segment"


def test_exclude_values_are_trimmed(api_client, trained):
    first = skus(recommend(api_client, "c00", n=3))
    after = skus(recommend(api_client, "c00", n=3, exclude=f" {first[0]} , {first[1]}"))
    assert not set(after) & set(first[:2])


def test_popular_days_counts_back_from_the_newest_event(api_client, trained):
    # The seed data ends in mid-2025: its last week is still a week of data.
    recent = api_client.get("/api/v1/popular", {"days": 7, "n": 5}).json()
    assert len(recent["results"]) == 5
    assert recent["results"][0]["reason"] == "popular in the last 7 days"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/recommendations/C-%00",
        "/api/v1/recommendations/C1?category=bo%00oks",
        "/api/v1/products/P-%00/similar",
        "/api/v1/products/P-%00/bought-together",
        "/api/v1/popular?category=%00",
    ],
)
def test_a_nul_character_in_an_id_or_parameter_is_a_400_naming_it(api_client, trained, path):
    """PostgreSQL cannot compare text holding NUL: refused before any query, the same on every database."""
    response = api_client.get(path)

    assert response.status_code == 400
    assert "NUL characters" in str(response.json())
