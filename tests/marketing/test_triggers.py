from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from marketing.models import Campaign, Recipient
from marketing.trigger_tasks import evaluate_triggered_campaigns_task
from marketing.triggers import evaluate_trigger, evaluate_triggered_campaigns, trigger_parameters
from recommender.serving import engine, log
from shop.models import InteractionKind
from tests.factories import CustomerFactory, InteractionFactory, ProductFactory, PurchaseFactory
from tests.marketing.factories import CampaignFactory, VariantFactory
from tests.marketing.segment_helpers import segment_with, segmentation_run

pytestmark = pytest.mark.django_db
NOW = datetime(2025, 6, 10, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fresh(settings):
    settings.RECOMMENDER_REFRESH_SECONDS = 0
    settings.RECOMMENDER_CATALOG_REFRESH_SECONDS = 0
    settings.RECOMMENDER_LOG_FLUSH_SECONDS = 3600
    settings.RECOMMENDER_LOG_BATCH = 100_000
    settings.MARKETING_QUIET_HOURS = ""
    engine.reset()
    yield
    engine.reset()
    log._buffer.clear()


def _triggered(trigger, *, channel=Campaign.Channel.ONSITE, holdout=0.0, cooldown=30, **parameters) -> Campaign:
    # On-site keeps these tests about who enters; the email path (consent, sending) has its own test below.
    campaign = CampaignFactory(
        status=Campaign.Status.RUNNING,
        channel=channel,
        trigger=trigger,
        trigger_parameters=parameters,
        holdout_share=holdout,
        cooldown_days=cooldown,
        recommendations_count=0,
    )
    VariantFactory(
        campaign=campaign,
        name="A",
        subject="Still thinking, {{ customer.first_name }}?",
        html_template="<ul>{% for p in cart %}<li>{{ p.sku }}</li>{% endfor %}</ul>",
        text_template="{% for p in cart %}{{ p.sku }} {% endfor %}",
    )
    return campaign


def _event(customer, product, kind, at, **extra):
    return InteractionFactory(customer=customer, product=product, kind=kind, occurred_at=at, **extra)


def _entries(campaign) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for external_id, entry in Recipient.objects.filter(campaign=campaign).values_list("customer__external_id", "entry"):
        out.setdefault(external_id, []).append(entry)
    return {k: sorted(v) for k, v in out.items()}


def test_abandoned_cart_enters_once_per_cooldown_with_the_carts_products():
    campaign = _triggered(Campaign.Trigger.ABANDONED_CART, hours=4, cooldown=30)
    shoe, hat, sock = ProductFactory(sku="SHOE"), ProductFactory(sku="HAT"), ProductFactory(sku="SOCK")
    ann, bob, cat, dan = (CustomerFactory(external_id=x, name=f"{x.title()} X") for x in ("ann", "bob", "cat", "dan"))
    _event(ann, shoe, InteractionKind.CART, NOW - timedelta(hours=6))
    _event(ann, hat, InteractionKind.CART, NOW - timedelta(hours=5))
    _event(bob, shoe, InteractionKind.CART, NOW - timedelta(hours=6))  # ... and bought it
    PurchaseFactory(customer=bob, product=shoe, occurred_at=NOW - timedelta(hours=5))
    _event(cat, sock, InteractionKind.CART, NOW - timedelta(hours=1))  # still shopping
    _event(dan, sock, InteractionKind.CART, NOW - timedelta(days=10))  # beyond the lookback

    result = evaluate_trigger(campaign_id=campaign.pk, now=NOW)

    assert (result.candidates, result.entered) == (1, 1)
    row = Recipient.objects.get(campaign=campaign)
    assert row.customer == ann and row.entry == 1
    assert row.attributes["products"] == ["HAT", "SHOE"]
    assert row.body_html == "<ul><li>HAT</li><li>SHOE</li></ul>"
    assert row.subject == "Still thinking, Ann?"

    # The beat ticks again (and again, an hour later): she is in her cooldown, nothing new.
    assert evaluate_trigger(campaign_id=campaign.pk, now=NOW).entered == 0
    assert evaluate_trigger(campaign_id=campaign.pk, now=NOW + timedelta(hours=1)).cooling_down == 1
    assert _entries(campaign) == {"ann": [1]}

    # After the cooldown, a new abandoned cart makes a second entry.
    later = NOW + timedelta(days=31)
    _event(ann, sock, InteractionKind.CART, later - timedelta(hours=5))
    assert evaluate_trigger(campaign_id=campaign.pk, now=later).entered == 1
    assert _entries(campaign) == {"ann": [1, 2]}


def test_browse_abandonment_needs_enough_views_and_no_cart():
    campaign = _triggered(Campaign.Trigger.BROWSE_ABANDONMENT, views=3, hours=24)
    lamp, desk = ProductFactory(sku="LAMP"), ProductFactory(sku="DESK")
    eve, fay, gus = (CustomerFactory(external_id=x) for x in ("eve", "fay", "gus"))
    for i in range(3):
        _event(eve, lamp, InteractionKind.VIEW, NOW - timedelta(hours=i + 1))
        _event(fay, desk, InteractionKind.VIEW, NOW - timedelta(hours=i + 1))
    _event(fay, desk, InteractionKind.CART, NOW - timedelta(minutes=30))
    for i in range(2):
        _event(gus, lamp, InteractionKind.VIEW, NOW - timedelta(hours=i + 1))

    evaluate_trigger(campaign_id=campaign.pk, now=NOW)

    assert _entries(campaign) == {"eve": [1]}
    assert Recipient.objects.get(campaign=campaign).attributes["products"] == ["LAMP"]


def test_win_back_and_welcome():
    win_back = _triggered(Campaign.Trigger.WIN_BACK, days=90)
    welcome = _triggered(Campaign.Trigger.WELCOME, days=7)
    old, recent = CustomerFactory(external_id="old"), CustomerFactory(external_id="recent")
    PurchaseFactory(customer=old, occurred_at=NOW - timedelta(days=120))
    PurchaseFactory(customer=recent, occurred_at=NOW - timedelta(days=120))
    PurchaseFactory(customer=recent, occurred_at=NOW - timedelta(days=10))
    CustomerFactory(external_id="new", signed_up_at=NOW - timedelta(days=2))
    CustomerFactory(external_id="stub", signed_up_at=NOW - timedelta(days=2), is_stub=True)

    results = {r.campaign_id: r for r in evaluate_triggered_campaigns(now=NOW)}

    assert _entries(win_back) == {"old": [1]}
    assert _entries(welcome) == {"new": [1]}
    assert results[win_back.pk].entered == results[welcome.pk].entered == 1
    evaluate_triggered_campaigns(now=NOW + timedelta(days=1))
    assert _entries(win_back) == {"old": [1]} and _entries(welcome) == {"new": [1]}


def test_segment_entry_fires_for_newcomers_of_the_switched_run_once():
    a, b, c = (CustomerFactory(external_id=x) for x in ("a", "b", "c"))
    first = segmentation_run("Loyalty")
    old_vip = segment_with([a, c], key="vip", run=first)
    second = segmentation_run("Loyalty", previous=first)
    segment_with([a, b], key="vip", run=second)
    segment_with([c], key="casual", run=second)
    campaign = _triggered(Campaign.Trigger.SEGMENT_ENTRY, segment=old_vip.pk)

    evaluate_trigger(campaign_id=campaign.pk, now=NOW)
    assert _entries(campaign) == {"b": [1]}

    # The same switch is not evaluated twice, even after the cooldown.
    assert evaluate_trigger(campaign_id=campaign.pk, now=NOW + timedelta(days=60)).entered == 0
    campaign.refresh_from_db()
    assert campaign.trigger_parameters["evaluated_run"] == second.pk


def test_included_and_excluded_segments_narrow_a_trigger():
    lapsed = [CustomerFactory(external_id=f"l{i}") for i in range(3)]
    for customer in lapsed:
        PurchaseFactory(customer=customer, occurred_at=NOW - timedelta(days=200))
    campaign = _triggered(Campaign.Trigger.WIN_BACK, days=90)
    campaign.included_segments.add(segment_with(lapsed[:2], key="eu"))
    campaign.excluded_segments.add(segment_with(lapsed[1:2], key="vip"))
    evaluate_trigger(campaign_id=campaign.pk, now=NOW)
    assert _entries(campaign) == {"l0": [1]}


def test_consent_and_holdout_rules_apply_to_triggered_email(mailoutbox, settings):
    campaign = _triggered(Campaign.Trigger.WELCOME, channel=Campaign.Channel.EMAIL, holdout=0.5, days=7)
    for i in range(40):
        CustomerFactory(external_id=f"w{i}", signed_up_at=NOW - timedelta(days=1), email_consent=i % 4 != 0)

    evaluate_trigger(campaign_id=campaign.pk, now=NOW)

    rows = list(Recipient.objects.filter(campaign=campaign).select_related("customer"))
    assert len(rows) == 40
    no_consent = [r for r in rows if not r.customer.email_consent]
    assert all(r.status == Recipient.Status.EXCLUDED and r.exclusion == "no_consent" for r in no_consent)
    eligible = [r for r in rows if r.customer.email_consent]
    control = [r for r in eligible if r.is_control]
    assert 0 < len(control) < len(eligible)
    assert all(r.status == Recipient.Status.CONTROL and r.sent_at == NOW for r in control)
    # The treated entrants were sent their welcome at once; nobody without consent, nobody in control.
    treated = [r for r in eligible if not r.is_control]
    assert all(r.status == Recipient.Status.SENT for r in treated)
    sent_to = sorted(address for message in mailoutbox for address in message.to)
    assert sent_to == sorted(r.customer.email for r in treated)


def test_bad_parameters_are_named():
    with pytest.raises(ValidationError, match="hours must be a whole number from 1"):
        trigger_parameters(trigger="abandoned_cart", parameters={"hours": 0})
    with pytest.raises(ValidationError, match="colour not used by win_back"):
        trigger_parameters(trigger="win_back", parameters={"colour": "red"})
    with pytest.raises(ValidationError, match="needs the segment's id"):
        trigger_parameters(trigger="segment_entry", parameters={})
    assert trigger_parameters(trigger="win_back", parameters={}) == {"days": 90}


def test_a_misconfigured_campaign_is_reported_and_the_others_still_run():
    broken = _triggered(Campaign.Trigger.WIN_BACK, days=-1)
    working = _triggered(Campaign.Trigger.WELCOME, days=7)
    CustomerFactory(external_id="n", signed_up_at=NOW - timedelta(days=1))
    results = {r.campaign_id: r for r in evaluate_triggered_campaigns(now=NOW)}
    assert "days must be a whole number" in results[broken.pk].error
    broken.refresh_from_db()
    assert "days must be a whole number" in broken.error
    assert results[working.pk].entered == 1


def test_beat_task_runs_the_evaluation():
    _triggered(Campaign.Trigger.WELCOME, days=3650)
    CustomerFactory(external_id="z")
    [summary] = evaluate_triggered_campaigns_task.apply().get()
    assert summary["entered"] == 1 and summary["error"] == ""


def test_a_cart_products_link_is_short_and_leads_to_its_page(client, settings):
    settings.MARKETING_BASE_URL = "http://testserver"
    settings.MARKETING_PRODUCT_URL = "https://shop.test/p/{sku}"
    campaign = _triggered(Campaign.Trigger.ABANDONED_CART, hours=4)
    variant = campaign.variants.get()
    variant.html_template = "{% for p in cart %}<a href='{{ p.url }}'>{{ p.sku }}</a>{% endfor %}"
    variant.save()
    ann = CustomerFactory(external_id="ann")
    _event(ann, ProductFactory(sku="HAT"), InteractionKind.CART, NOW - timedelta(hours=6))

    evaluate_trigger(campaign_id=campaign.pk, now=NOW)

    link = Recipient.objects.get(campaign=campaign).body_html.split("href='")[1].split("'")[0]
    assert link.startswith("http://testserver/m/c/") and len(link) < 120  # the product's id, not its address
    response = client.get(link.removeprefix("http://testserver"))
    assert response.status_code == 302 and response["Location"].startswith("https://shop.test/p/HAT")
