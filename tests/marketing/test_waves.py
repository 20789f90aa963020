"""Adaptive sends: waves move the audience toward the better variant, control stays fixed, nobody gets two messages."""

from collections import Counter
from datetime import timedelta

import numpy as np
import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from marketing import services, waves
from marketing.audience import is_control
from marketing.models import Campaign, Recipient, Variant
from marketing.reports import measured_recipients
from tests.factories import PurchaseFactory
from tests.marketing.campaign_helpers import active_segment, campaign_for, customers, fresh_serving  # noqa: F401

pytestmark = pytest.mark.django_db
S = Recipient.Status
RATES = {"A": 0.04, "B": 0.35, "(control)": 0.04}  # simulated chance of a purchase after the (would-be) send


def _adaptive(n: int, **fields) -> Campaign:
    fields = {"adaptive": True, "wave_share": 0.25, "wave_interval_hours": 24, **fields}
    campaign = campaign_for(active_segment(customers(n)), holdout=0.2, **fields)
    a = campaign.variants.get()
    Variant.objects.create(
        campaign=campaign, name="B", subject="B {{ customer.first_name }}", text_template=a.text_template, position=1
    )
    services.validate_campaign_ready(campaign=campaign)
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.SENDING)
    campaign.refresh_from_db()
    return campaign


def _simulate_purchases(campaign: Campaign, rng: np.random.Generator, done: set[int]) -> None:
    """Each recipient sent (or released as control) since the last call buys with its group's rate."""
    rows = Recipient.objects.filter(campaign=campaign, status__in=[S.SENT, S.CONTROL]).select_related("variant")
    for row in rows.exclude(pk__in=done):
        done.add(row.pk)
        group = "(control)" if row.is_control else row.variant.name
        if rng.random() < RATES[group]:
            PurchaseFactory(customer=row.customer, occurred_at=row.sent_at + timedelta(hours=2))


def _treated_share_of_b(campaign: Campaign, wave: int) -> float:
    names = Counter(
        Recipient.objects.filter(campaign=campaign, wave=wave, is_control=False)
        .exclude(status=S.EXCLUDED)
        .values_list("variant__name", flat=True)
    )
    return names["B"] / (names["A"] + names["B"])


def test_waves_move_the_audience_toward_the_better_variant_with_control_fixed():
    campaign = _adaptive(400)
    services.campaign_deliver(campaign_id=campaign.pk)
    campaign.refresh_from_db()
    rows = Recipient.objects.filter(campaign=campaign)
    assert set(rows.values_list("wave", flat=True)) == {1, 2, 3, 4}
    # Later waves wait: their treated rows have no variant and no message yet, nothing of them was sent.
    later = rows.filter(wave__gt=1)
    assert set(later.values_list("status", flat=True)) == {S.WAITING}
    assert not later.filter(is_control=False, variant__isnull=False).exists()
    assert set(rows.filter(wave=1).values_list("status", flat=True)) == {S.SENT, S.CONTROL}
    assert campaign.status == Campaign.Status.SENDING  # waves are left to send
    # Control is the holdout hash, decided at the build for every wave.
    control_at_build = dict(rows.values_list("customer_id", "is_control"))
    assert control_at_build == {
        c: is_control(campaign_id=campaign.pk, customer_id=c, holdout_share=0.2) for c in control_at_build
    }
    # The report counts wave 1 only: unreleased control rows are not measured.
    assert measured_recipients(campaign).count() == rows.filter(wave=1).count()

    rng = np.random.default_rng(3)
    done: set[int] = set()
    now = timezone.now()
    for wave in (2, 3, 4):
        _simulate_purchases(campaign, rng, done)
        assert waves.release_next_wave(campaign_id=campaign.pk, now=now) is None  # its interval has not passed
        now += timedelta(hours=25)
        entry = waves.release_next_wave(campaign_id=campaign.pk, now=now)
        assert entry["wave"] == wave
        assert waves.release_next_wave(campaign_id=campaign.pk, now=now) is None  # released once
        services.campaign_deliver(campaign_id=campaign.pk)

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING  # the last wave went: measuring
    assert [e["wave"] for e in campaign.wave_log] == [2, 3, 4]
    assert campaign.wave_log[0]["probability_best"]["B"] > 0.95
    # Wave 1 split by share (about half each); then Thompson sampling gives B nearly everything.
    assert 0.35 < _treated_share_of_b(campaign, 1) < 0.65
    for wave in (2, 3, 4):
        assert _treated_share_of_b(campaign, wave) > 0.85
        assert Recipient.objects.filter(campaign=campaign, wave=wave, is_control=False, variant__name="A").exists()
    # The control group never changed, and each wave kept its hashed control rows.
    assert dict(Recipient.objects.filter(campaign=campaign).values_list("customer_id", "is_control")) == (
        control_at_build
    )
    for entry in campaign.wave_log:
        wave_rows = Recipient.objects.filter(campaign=campaign, wave=entry["wave"])
        assert entry["control"] == wave_rows.filter(is_control=True).count()
        assert entry["treated"] == wave_rows.filter(is_control=False).count()
        assert set(wave_rows.filter(is_control=True).values_list("status", flat=True)) == {S.CONTROL}
    # Nobody was sent twice: one message per treated row, each sent on its first attempt.
    treated = Recipient.objects.filter(campaign=campaign, is_control=False)
    assert set(treated.values_list("status", flat=True)) == {S.SENT}
    assert set(treated.values_list("attempts", flat=True)) == {1}
    addresses = [m.to[0] for m in mail.outbox]
    assert len(addresses) == len(set(addresses)) == treated.count()
    assert not Recipient.objects.filter(campaign=campaign, status=S.WAITING).exists()
    assert measured_recipients(campaign).count() == Recipient.objects.filter(campaign=campaign).count()


def test_a_paused_campaign_releases_no_wave_and_resumes_sending():
    campaign = _adaptive(80)
    services.campaign_deliver(campaign_id=campaign.pk)
    services.campaign_pause(campaign=campaign)
    later = timezone.now() + timedelta(days=3)
    assert waves.release_due_waves(now=later) == []
    campaign = services.campaign_resume(campaign=Campaign.objects.get(pk=campaign.pk))
    assert campaign.status == Campaign.Status.SENDING  # waves are still waiting
    assert waves.release_due_waves(now=later) == [campaign.pk]


def test_a_rebuild_puts_everyone_in_the_same_wave():
    campaign = _adaptive(120)
    services.campaign_build_audience(campaign=campaign)
    first = dict(Recipient.objects.filter(campaign=campaign).values_list("customer_id", "wave"))
    services.campaign_build_audience(campaign=campaign)
    assert dict(Recipient.objects.filter(campaign=campaign).values_list("customer_id", "wave")) == first
    sizes = Counter(first.values())
    assert set(sizes) == {1, 2, 3, 4} and min(sizes.values()) > 15


def test_the_wave_status_shows_released_and_waiting_waves():
    campaign = _adaptive(80)
    services.campaign_deliver(campaign_id=campaign.pk)
    campaign.refresh_from_db()
    status = waves.wave_status(campaign)
    assert status["waves"] == 4
    assert [w["wave"] for w in status["released"]] == [1]
    assert status["waiting"] == [2, 3, 4]
    assert status["next_release_at"] > timezone.now() + timedelta(hours=23)


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        (
            {
                "channel": Campaign.Channel.ONSITE,
                "starts_at": timezone.now(),
                "ends_at": timezone.now() + timedelta(days=7),
            },
            "Only e-mail, SMS and push",
        ),
        ({"trigger": Campaign.Trigger.ABANDONED_CART}, "triggered campaign"),
        ({"wave_share": 1.0}, "single wave"),
    ],
)
def test_an_adaptive_campaign_that_cannot_send_in_waves_is_refused(fields, problem):
    with pytest.raises(ValidationError, match=problem):
        _adaptive(3, **fields)


def test_an_adaptive_campaign_needs_two_variants():
    campaign = campaign_for(active_segment(customers(3)), adaptive=True)
    with pytest.raises(ValidationError, match="two variants"):
        services.validate_campaign_ready(campaign=campaign)


def test_the_campaign_page_shows_each_wave_with_its_allocation(admin_client):
    campaign = _adaptive(80)
    services.campaign_deliver(campaign_id=campaign.pk)
    waves.release_next_wave(campaign_id=campaign.pk, now=timezone.now() + timedelta(hours=25))
    page = admin_client.get(reverse("admin:marketing_campaign_change", args=[campaign.pk])).content.decode()
    entry = Campaign.objects.get(pk=campaign.pk).wave_log[0]
    assert "Adaptive waves" in page and "chance of being best" in page
    assert f"A {entry['allocation']['A']:,}, B {entry['allocation']['B']:,}" in page
    assert "4 waves; waiting: 3, 4; next release" in page
