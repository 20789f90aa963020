"""Campaign reports: who is counted, the JSON shape, breakdowns, CSV and the command."""

import csv
import io
import json
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError

from marketing.models import Campaign, Recipient, Variant
from marketing.reports import campaign_by_reference, campaign_report, report_csv, report_text
from tests.marketing.factories import CampaignFactory, VariantFactory

pytestmark = pytest.mark.django_db

VARIANT_KEYS = {
    "name",
    "recipients",
    "conversions",
    "conversion_rate",
    "uplift",
    "uplift_ci",
    "relative_uplift",
    "p_value",
    "significant",
    "revenue_per_recipient",
    "revenue_uplift",
    "revenue_uplift_ci",
    "incremental_conversions",
    "incremental_revenue",
}


def add(campaign, variant, n, converted, *, revenue="0", segment="", attributes=None, status=None, **extra):
    """n recipients of which `converted` bought (each once, for `revenue`)."""
    rows = []
    for i in range(n):
        hit = i < converted
        rows.append(
            Recipient(
                campaign=campaign,
                variant=variant,
                is_control=variant is None,
                status=status or (Recipient.Status.CONTROL if variant is None else Recipient.Status.SENT),
                conversions=1 if hit else 0,
                revenue=Decimal(revenue) if hit else Decimal("0"),
                segment_name=segment,
                attributes=attributes or {},
                **extra,
            )
        )
    Recipient.objects.bulk_create(rows)


@pytest.fixture
def campaign():
    campaign = CampaignFactory(name="Spring sale")
    variant = VariantFactory(campaign=campaign, name="A")
    # Segment "Loyal": 40 % of 100 treated buy against 10 % of 100 in control; "New": 10 % against 10 %.
    add(campaign, variant, 100, 40, revenue="20", segment="Loyal", attributes={"band": "high"})
    add(campaign, None, 100, 10, revenue="20", segment="Loyal", attributes={"band": "high"})
    add(campaign, variant, 100, 10, revenue="20", segment="New", attributes={"band": "low"})
    add(campaign, None, 100, 10, revenue="20", segment="New", attributes={"band": "low"})
    return campaign


def test_overall_report_compares_the_variant_with_control(campaign):
    report = campaign_report(campaign)
    assert report["campaign"] == "Spring sale"
    assert report["control"] == {
        "recipients": 200,
        "conversions": 20,
        "conversion_rate": 0.1,
        "revenue_per_recipient": pytest.approx(2.0),
    }
    (variant,) = report["variants"]
    assert set(variant) >= VARIANT_KEYS
    assert variant["name"] == "A"
    assert (variant["recipients"], variant["conversions"]) == (200, 50)
    assert variant["uplift"] == pytest.approx(0.15)
    assert variant["relative_uplift"] == pytest.approx(1.5)
    lo, hi = variant["uplift_ci"]
    assert 0 < lo < 0.15 < hi
    assert variant["significant"] is True
    assert variant["revenue_per_recipient"] == pytest.approx(5.0)
    assert variant["revenue_uplift"] == pytest.approx(3.0)
    assert variant["incremental_conversions"] == pytest.approx(30.0)
    assert variant["incremental_revenue"] == pytest.approx(600.0)
    assert "breakdown" not in report


def test_breakdown_by_segment_finds_where_it_worked(campaign):
    report = campaign_report(campaign, by="segment")
    groups = {g["value"]: g for g in report["breakdown"]["groups"]}
    assert report["breakdown"]["by"] == "segment"
    assert set(groups) == {"Loyal", "New"}
    assert groups["Loyal"]["variants"][0]["uplift"] == pytest.approx(0.3)
    assert groups["Loyal"]["q_value"] < 0.05
    assert groups["New"]["variants"][0]["uplift"] == pytest.approx(0.0)
    assert groups["New"]["q_value"] > 0.5
    assert groups["Loyal"]["control"]["recipients"] == 100


def test_breakdown_by_attribute_and_unknown_attribute_named(campaign):
    report = campaign_report(campaign, by="band")
    assert {g["value"] for g in report["breakdown"]["groups"]} == {"high", "low"}
    with pytest.raises(ValidationError, match=r"no recipient of 'Spring sale' has the attribute 'colour'.*band"):
        campaign_report(campaign, by="colour")


def test_left_out_and_unsent_recipients_are_not_counted(campaign):
    variant = campaign.variants.get()
    add(campaign, variant, 50, 50, status=Recipient.Status.PENDING)
    add(campaign, variant, 50, 50, exclusion=Recipient.Exclusion.NO_CONSENT, status=Recipient.Status.EXCLUDED)
    add(campaign, variant, 10, 0, status=Recipient.Status.FAILED)  # assigned: counted (intention to treat)
    assert campaign_report(campaign)["variants"][0]["recipients"] == 210


def test_many_values_of_a_numeric_attribute_are_banded():
    campaign = CampaignFactory(name="Banded")
    variant = VariantFactory(campaign=campaign, name="A")
    for spend in range(40):
        add(campaign, variant, 2, 1, attributes={"spend": spend * 2.5})
        add(campaign, None, 2, 0, attributes={"spend": spend * 2.5})
    groups = campaign_report(campaign, by="spend")["breakdown"]["groups"]
    assert [g["value"].split(":")[0] for g in groups] == ["1", "2", "3", "4", "5"]
    assert sum(g["control"]["recipients"] for g in groups) == 80


def test_no_control_group_is_a_clear_error():
    campaign = CampaignFactory(name="No holdout")
    add(campaign, VariantFactory(campaign=campaign), 5, 1)
    with pytest.raises(ValidationError, match="no control recipients"):
        campaign_report(campaign)


def test_csv_has_a_row_per_variant_and_group(campaign):
    rows = list(csv.DictReader(io.StringIO(report_csv(campaign_report(campaign, by="segment")))))
    assert [(r["group"], r["variant"]) for r in rows] == [("(all)", "A"), ("Loyal", "A"), ("New", "A")]
    assert float(rows[1]["uplift"]) == pytest.approx(0.3)
    assert float(rows[1]["uplift_ci_low"]) > 0
    assert rows[1]["q_value"] != ""


def test_text_report_shows_points_and_intervals(campaign):
    text = report_text(campaign_report(campaign, by="segment"))
    assert "+15.00" in text and "Loyal" in text and "+30.00" in text


def test_campaign_found_by_name_or_id(campaign):
    assert campaign_by_reference(str(campaign.pk)) == campaign
    assert campaign_by_reference("Spring sale") == campaign
    with pytest.raises(Campaign.DoesNotExist, match="no campaign named or numbered 'nope'"):
        campaign_by_reference("nope")


def test_command_prints_json_and_refuses_unknown_campaign(campaign):
    out = io.StringIO()
    call_command("campaign_report", "Spring sale", "--by", "segment", "--json", stdout=out)
    report = json.loads(out.getvalue())
    assert set(report) == {"campaign", "control", "variants", "breakdown"}
    assert {"value", "control", "variants", "q_value"} <= set(report["breakdown"]["groups"][0])
    with pytest.raises(CommandError, match="no campaign named or numbered 'Missing'"):
        call_command("campaign_report", "Missing")
    with pytest.raises(CommandError, match="has the attribute 'colour'"):
        call_command("campaign_report", str(campaign.pk), "--by", "colour")


def test_two_variants_each_against_control():
    campaign = CampaignFactory(name="Two")
    a = VariantFactory(campaign=campaign, name="A")
    b = Variant.objects.create(campaign=campaign, name="B")
    add(campaign, a, 100, 20)
    add(campaign, b, 100, 10)
    add(campaign, None, 100, 10)
    variants = {v["name"]: v for v in campaign_report(campaign)["variants"]}
    assert variants["A"]["uplift"] == pytest.approx(0.1)
    assert variants["B"]["uplift"] == pytest.approx(0.0)


def test_power_before_launch_uses_the_estimate_and_the_segments_recent_purchase_rate():
    from datetime import UTC, datetime, timedelta

    from marketing.ml.power import minimum_detectable_uplift
    from marketing.reports import campaign_power
    from segments.models import Membership, Segment, SegmentationDefinition, SegmentationRun
    from tests.factories import CustomerFactory, PurchaseFactory

    definition = SegmentationDefinition.objects.create(name="Power", method="rules")
    run = SegmentationRun.objects.create(definition=definition, method="rules", status="succeeded")
    members = [CustomerFactory() for _ in range(10)]
    segment = Segment.objects.create(run=run, key="k", name="K", size=10)
    Membership.objects.bulk_create(Membership(segment=segment, customer=c) for c in members)
    latest = datetime(2025, 6, 30, tzinfo=UTC)
    PurchaseFactory(customer=members[0], occurred_at=latest)
    PurchaseFactory(customer=members[0], occurred_at=latest - timedelta(days=1))  # a buyer counts once
    PurchaseFactory(customer=members[1], occurred_at=latest - timedelta(days=6))
    PurchaseFactory(customer=members[2], occurred_at=latest - timedelta(days=8))  # outside the 7-day window
    PurchaseFactory(customer=CustomerFactory(), occurred_at=latest)  # not a member
    campaign = CampaignFactory(name="Planned", holdout_share=0.1, estimate={"eligible": 1200})
    campaign.included_segments.set([segment])
    power = campaign_power(campaign)
    assert power["baseline_rate"] == pytest.approx(0.2)
    assert power["audience"] == 1200
    expected = minimum_detectable_uplift(audience=1200, holdout_share=0.1, baseline_rate=0.2)
    assert power["minimum_detectable_uplift"] == pytest.approx(expected)
    assert power["sentence"].startswith("With 1,200 recipients and a 10 % holdout, only an uplift above")
    assert f"{expected * 100:.1f} points" in power["sentence"]
    # Without an estimate, the segment's members are the audience.
    campaign.estimate = {}
    assert campaign_power(campaign)["audience"] == 10


def test_power_of_a_result_reads_the_groups_as_sent(campaign):
    from marketing.reports import report_power

    power = report_power(campaign_report(campaign))
    assert power["audience"] == 400 and power["holdout_share"] == pytest.approx(0.5)
    assert power["baseline_rate"] == pytest.approx(0.1)
    assert "400 recipients and a 50 % holdout" in power["sentence"]


def test_an_imported_experiment_breaks_down_by_its_own_segment_column():
    campaign = CampaignFactory(name="Imported", origin=Campaign.Origin.IMPORTED)
    variant = VariantFactory(campaign=campaign, name="1")
    add(campaign, variant, 10, 5, attributes={"segment": "web"})
    add(campaign, None, 10, 1, attributes={"segment": "web"})
    groups = campaign_report(campaign, by="segment")["breakdown"]["groups"]
    assert [g["value"] for g in groups] == ["web"]
    bare = CampaignFactory(name="Bare import", origin=Campaign.Origin.IMPORTED)
    add(bare, VariantFactory(campaign=bare, name="1"), 5, 1, attributes={"band": "x"})
    add(bare, None, 5, 1, attributes={"band": "x"})
    with pytest.raises(ValidationError, match="has the attribute 'segment'; use --by segment or one of: band"):
        campaign_report(bare, by="segment")
