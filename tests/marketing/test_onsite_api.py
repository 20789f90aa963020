from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from marketing.audience import is_control
from marketing.models import Campaign, Coupon, Offer, Recipient, Suppression
from marketing.onsite import forget_onsite_campaigns
from recommender.serving import engine, log
from shop.models import ApiClient, hash_api_key
from tests.factories import CustomerFactory, ProductFactory, PurchaseFactory
from tests.marketing.factories import CampaignFactory, OfferFactory, VariantFactory
from tests.marketing.segment_helpers import segment_with

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh(settings):
    settings.MARKETING_ONSITE_CACHE_SECONDS = 0
    settings.RECOMMENDER_REFRESH_SECONDS = 0
    settings.RECOMMENDER_CATALOG_REFRESH_SECONDS = 0
    settings.RECOMMENDER_LOG_FLUSH_SECONDS = 3600
    settings.RECOMMENDER_LOG_BATCH = 100_000
    forget_onsite_campaigns()
    engine.reset()
    yield
    forget_onsite_campaigns()
    engine.reset()
    log._buffer.clear()


def _url(external_id: str) -> str:
    return f"/api/v1/customers/{external_id}/offers"


def _onsite_campaign(segment, *, holdout=0.0, offer=None, **extra) -> Campaign:
    now = timezone.now()
    fields = {
        "channel": Campaign.Channel.ONSITE,
        "status": Campaign.Status.RUNNING,
        "holdout_share": holdout,
        "starts_at": now - timedelta(days=1),
        "ends_at": now + timedelta(days=6),
        "offer": offer,
        "recommendations_count": 2,
    }
    campaign = CampaignFactory(**{**fields, **extra})
    campaign.included_segments.add(segment)
    VariantFactory(
        campaign=campaign,
        name="A",
        subject="{{ customer.first_name }}{% if offer %}, {{ offer.value }}% off{% endif %}",
        html_template=(
            "<p>Code <b>{{ offer.code if offer else '' }}</b>"
            "{% for p in products %}<a href='{{ p.url }}'>{{ p.sku }}</a>{% endfor %}</p>"
        ),
        text_template="Code {{ offer.code if offer else '' }}",
    )
    return campaign


@pytest.fixture
def catalog():
    products = [ProductFactory(sku=f"P{i}", price=Decimal("12.50")) for i in range(4)]
    buyer = CustomerFactory(external_id="someone-else")
    for i, product in enumerate(products):
        for _ in range(4 - i):
            PurchaseFactory(customer=buyer, product=product)
    return products


def test_member_gets_the_running_offer_with_their_code_and_products(api_client, catalog):
    ann = CustomerFactory(external_id="ann", name="Ann Smith")
    offer = OfferFactory(code_mode=Offer.CodeMode.UNIQUE, code="SITE", value=Decimal("15"))
    campaign = _onsite_campaign(segment_with([ann]), offer=offer)

    response = api_client.get(_url("ann"))

    assert response.status_code == 200
    body = response.json()
    assert body["customer"] == "ann"
    [shown] = body["offers"]
    coupon = Coupon.objects.get(customer=ann, offer=offer)
    assert shown["campaign"] == campaign.id
    assert shown["headline"] == "Ann, 15.00% off"
    assert shown["coupon"] == coupon.code
    assert f"<b>{coupon.code}</b>" in shown["html"]
    assert shown["offer"]["kind"] == "percent" and shown["offer"]["value"] == "15.00"
    assert len(shown["products"]) == 2
    assert all(f">{p['sku']}</a>" in shown["html"] for p in shown["products"])
    assert all(p["link"].endswith(f"rec={shown['recommendation_id']}") for p in shown["products"])
    assert shown["recommendation_id"]
    recipient = Recipient.objects.get(campaign=campaign, customer=ann)
    assert recipient.status == Recipient.Status.SENT and recipient.impression_at is not None
    assert recipient.sent_at == recipient.impression_at
    assert recipient.recommended_skus == [p["sku"] for p in shown["products"]]


def test_second_call_shows_the_same_content_and_keeps_the_first_impression(api_client, catalog):
    CustomerFactory(external_id="bob", name="Bob")
    campaign = _onsite_campaign(segment_with([CustomerFactory._meta.model.objects.get(external_id="bob")]))
    first = api_client.get(_url("bob")).json()
    recipient = Recipient.objects.get(campaign=campaign)
    first_seen = recipient.impression_at
    second = api_client.get(_url("bob")).json()
    assert first == second
    recipient.refresh_from_db()
    assert recipient.impression_at == first_seen
    assert Recipient.objects.filter(campaign=campaign).count() == 1


def test_later_calls_only_read(api_client, catalog, settings, django_assert_max_num_queries):
    settings.MARKETING_ONSITE_CACHE_SECONDS = 60
    carl = CustomerFactory(external_id="carl")
    _onsite_campaign(segment_with([carl]))
    api_client.get(_url("carl"))
    with django_assert_max_num_queries(1):  # the customer with their recipient rows; products cached; no write
        assert len(api_client.get(_url("carl")).json()["offers"]) == 1


def test_control_group_sees_nothing_but_its_would_be_send_time_is_recorded(api_client, catalog):
    customers = [CustomerFactory(external_id=f"h{i}") for i in range(60)]
    campaign = _onsite_campaign(segment_with(customers), holdout=0.5)
    control = [c for c in customers if is_control(campaign_id=campaign.id, customer_id=c.pk, holdout_share=0.5)]
    treated = [c for c in customers if c not in control]
    assert control and treated
    for customer in control[:3]:
        assert api_client.get(_url(customer.external_id)).json()["offers"] == []
        row = Recipient.objects.get(campaign=campaign, customer=customer)
        assert row.is_control and row.status == Recipient.Status.CONTROL
        assert row.sent_at is not None and row.impression_at == row.sent_at
        assert not row.body_html and not row.coupon_code
    assert len(api_client.get(_url(treated[0].external_id)).json()["offers"]) == 1


def test_holdout_share_is_kept_within_tolerance():
    shares = [is_control(campaign_id=7, customer_id=i, holdout_share=0.1) for i in range(20_000)]
    assert 0.09 < sum(shares) / len(shares) < 0.11
    assert shares == [is_control(campaign_id=7, customer_id=i, holdout_share=0.1) for i in range(20_000)]


def test_non_members_excluded_segments_suppressed_and_unknown_customers_get_nothing(api_client, catalog):
    member, outsider, excluded, suppressed = (CustomerFactory(external_id=x) for x in ("m", "o", "x", "s"))
    campaign = _onsite_campaign(segment_with([member, excluded, suppressed]))
    campaign.excluded_segments.add(segment_with([excluded], key="churned"))
    Suppression.objects.create(customer=suppressed, reason="asked")
    assert len(api_client.get(_url("m")).json()["offers"]) == 1
    for external_id in ("o", "x", "s", "nobody"):
        assert api_client.get(_url(external_id)).json() == {"customer": external_id, "offers": []}
    row = Recipient.objects.get(campaign=campaign, customer=suppressed)
    assert row.status == Recipient.Status.EXCLUDED and row.exclusion == Recipient.Exclusion.SUPPRESSED
    assert row.impression_at is None
    assert not Recipient.objects.filter(customer__in=[outsider, excluded]).exists()


def test_consent_is_not_needed_on_site(api_client, catalog):
    quiet = CustomerFactory(external_id="q", email_consent=False, sms_consent=False, push_consent=False)
    _onsite_campaign(segment_with([quiet]))
    assert len(api_client.get(_url("q")).json()["offers"]) == 1


def test_only_running_campaigns_within_their_window_show(api_client, catalog):
    dana = CustomerFactory(external_id="dana")
    segment = segment_with([dana])
    _onsite_campaign(segment, name="paused", status=Campaign.Status.PAUSED)
    _onsite_campaign(segment, name="email", channel=Campaign.Channel.EMAIL)
    future = _onsite_campaign(segment, name="future")
    Campaign.objects.filter(pk=future.pk).update(starts_at=timezone.now() + timedelta(days=1))
    assert api_client.get(_url("dana")).json()["offers"] == []
    _onsite_campaign(segment, name="live")
    assert [o["campaign_name"] for o in api_client.get(_url("dana")).json()["offers"]] == ["live"]


def test_a_prebuilt_recipient_row_is_shown_as_built(api_client, catalog):
    erin = CustomerFactory(external_id="erin")
    campaign = _onsite_campaign(segment_with([erin]))
    Recipient.objects.create(
        campaign=campaign,
        customer=erin,
        variant=campaign.variants.get(),
        status=Recipient.Status.SENT,
        subject="Built at launch",
        body_html="<p>built</p>",
        coupon_code="PREBUILT",
        recommended_skus=["P3"],
        sent_at=datetime(2025, 1, 1, tzinfo=UTC),
    )
    [shown] = api_client.get(_url("erin")).json()["offers"]
    assert (shown["headline"], shown["coupon"], [p["sku"] for p in shown["products"]]) == (
        "Built at launch",
        "PREBUILT",
        ["P3"],
    )
    row = Recipient.objects.get(campaign=campaign, customer=erin)
    assert row.sent_at == datetime(2025, 1, 1, tzinfo=UTC) and row.impression_at is not None


def test_needs_an_api_key_with_the_offers_scope(anon_client, catalog):
    assert anon_client.get(_url("ann")).status_code == 401
    raw = ApiClient.generate_key()
    client = ApiClient.objects.create(name="reader", key_prefix=raw[:8], key_hash=hash_api_key(raw))
    client.scopes = ["recommendations:read"]
    client.save()
    limited = APIClient()
    limited.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    response = limited.get(_url("ann"))
    assert response.status_code == 403
    assert "offers:read" in response.json()["detail"]


def test_schema_documents_the_endpoint(anon_client):
    schema = anon_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    operation = schema["paths"]["/api/v1/customers/{external_id}/offers"]["get"]
    assert operation["operationId"] == "customer_offers"
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert ref.endswith("/CustomerOffers")
    offer = schema["components"]["schemas"]["OnsiteOffer"]["properties"]
    assert {"headline", "coupon", "products", "recommendation_id"} <= set(offer)


def test_an_audience_rule_narrows_who_sees_the_offer(api_client, catalog):
    uk, fr = (
        CustomerFactory(external_id="uk", country="United Kingdom"),
        CustomerFactory(external_id="fr", country="France"),
    )
    campaign = _onsite_campaign(segment_with([uk, fr]))
    Campaign.objects.filter(pk=campaign.pk).update(
        audience_rule={"all": [{"field": "country", "op": "=", "value": "France"}]}
    )
    assert api_client.get(_url("uk")).json()["offers"] == []
    assert len(api_client.get(_url("fr")).json()["offers"]) == 1


def test_a_concurrent_first_impression_answers_with_the_row_written_first(api_client, catalog, monkeypatch):
    from marketing import onsite

    fay = CustomerFactory(external_id="fay")
    campaign = _onsite_campaign(segment_with([fay]))
    suppressed = onsite._suppressed

    def another_request_first(customer):
        # The same newcomer's other request inserts its row between this one's read and insert.
        Recipient.objects.create(
            campaign=campaign,
            customer=fay,
            variant=campaign.variants.get(),
            status=Recipient.Status.SENT,
            subject="Written first",
            impression_at=timezone.now(),
        )
        return suppressed(customer)

    monkeypatch.setattr(onsite, "_suppressed", another_request_first)
    [shown] = api_client.get(_url("fay")).json()["offers"]
    assert shown["headline"] == "Written first"
    assert Recipient.objects.filter(campaign=campaign, customer=fay).count() == 1


def test_first_impression_writes_one_row_in_a_few_queries(api_client, catalog, settings, django_assert_max_num_queries):
    settings.MARKETING_ONSITE_CACHE_SECONDS = 60
    settings.RECOMMENDER_REFRESH_SECONDS = 3600
    settings.RECOMMENDER_CATALOG_REFRESH_SECONDS = 3600
    gus, hal = CustomerFactory(external_id="gus"), CustomerFactory(external_id="hal")
    campaign = _onsite_campaign(segment_with([gus, hal]))
    api_client.get(_url("hal"))  # the campaign, its content builder and the recommender loaded
    # Customer and rows, memberships, suppression, the insert (products are cached); the recommender's look-ups of a
    # customer it has no precomputed list for (their id, segments and purchases: this small catalog's model has none).
    with django_assert_max_num_queries(7):
        [shown] = api_client.get(_url("gus")).json()["offers"]
    row = Recipient.objects.get(campaign=campaign, customer=gus)
    assert (row.subject, row.body_html, row.recommended_skus) == (
        shown["headline"],
        shown["html"],
        [p["sku"] for p in shown["products"]],
    )
    assert row.status == Recipient.Status.SENT and row.impression_at == row.sent_at is not None
    assert row.attributes == {} and row.entry == 1 and row.revenue == 0


def test_unchanged_campaigns_are_checked_not_read_again(api_client, catalog, django_assert_num_queries):
    ivy = CustomerFactory(external_id="ivy")
    _onsite_campaign(segment_with([ivy]))
    api_client.get(_url("ivy"))  # campaigns read, ivy reached
    # Checked on every call here (MARKETING_ONSITE_CACHE_SECONDS = 0): their ids and change times, then ivy's rows.
    with django_assert_num_queries(2):
        assert len(api_client.get(_url("ivy")).json()["offers"]) == 1


def test_a_pause_and_a_launch_show_at_the_next_check(api_client, catalog, settings):
    import dataclasses

    from marketing import onsite, services

    def next_check_due():
        onsite._cached = dataclasses.replace(onsite._cached, check_at=0.0)

    settings.MARKETING_ONSITE_CACHE_SECONDS = 60
    jo = CustomerFactory(external_id="jo")
    segment = segment_with([jo])
    first = _onsite_campaign(segment, name="first")
    assert [o["campaign_name"] for o in api_client.get(_url("jo")).json()["offers"]] == ["first"]
    services.campaign_pause(campaign=first)
    assert len(api_client.get(_url("jo")).json()["offers"]) == 1  # held until the next check
    next_check_due()
    assert api_client.get(_url("jo")).json()["offers"] == []
    _onsite_campaign(segment, name="second")
    next_check_due()
    assert [o["campaign_name"] for o in api_client.get(_url("jo")).json()["offers"]] == ["second"]
