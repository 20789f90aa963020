"""Every figure on a segment's profile against the same figure aggregated directly in the database."""

from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import Count, Q, Sum

from segments import selectors, services
from segments.models import RunStatus
from shop.models import Customer, Interaction, InteractionKind
from tests.segments.factories import build_shop

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop():
    """The factory shop, plus spend across categories: the big spenders also buy books and return a gadget now and
    then, some small buyers also buy a gadget. With top_categories=1 only Gadgets becomes a feature column."""
    built = build_shop(big=15, small=15, browsers=5)
    gadgets, books = built["products"][:5], built["products"][5:10]
    extra, n = [], 0
    for i, customer in enumerate(built["customers"]["big"]):
        last = Interaction.objects.filter(customer=customer, kind=InteractionKind.PURCHASE).latest("occurred_at")
        for j in range(1 + i % 3):
            n += 1
            extra.append(
                Interaction(
                    customer=customer,
                    product=books[(i + j) % 5],
                    kind=InteractionKind.PURCHASE,
                    amount=Decimal("9.50") + j,
                    order_ref=f"extra-{customer.pk}-{j}",
                    occurred_at=last.occurred_at - timedelta(days=3 + j),
                    event_id=f"extra-{n}",
                )
            )
        if i % 4 == 0:
            n += 1
            extra.append(
                Interaction(
                    customer=customer,
                    product=last.product,
                    kind=InteractionKind.RETURN,
                    amount=last.amount,
                    occurred_at=last.occurred_at + timedelta(days=2),
                    event_id=f"extra-{n}",
                )
            )
    for customer in built["customers"]["small"][:4]:
        first = Interaction.objects.filter(customer=customer, kind=InteractionKind.PURCHASE).earliest("occurred_at")
        n += 1
        extra.append(
            Interaction(
                customer=customer,
                product=gadgets[0],
                kind=InteractionKind.PURCHASE,
                amount=Decimal("45.00"),
                order_ref=first.order_ref,
                occurred_at=first.occurred_at,
                event_id=f"extra-{n}",
            )
        )
    Interaction.objects.bulk_create(extra)
    return built


def _net(queryset) -> float:
    sums = queryset.aggregate(
        bought=Sum("amount", filter=Q(kind=InteractionKind.PURCHASE)),
        returned=Sum("amount", filter=Q(kind=InteractionKind.RETURN)),
    )
    return float((sums["bought"] or 0) - (sums["returned"] or 0))


def test_each_profile_figure_is_what_the_database_says(shop):
    definition = services.segmentation_definition_create(
        name="Figures", method="kmeans", parameters={"k": 2, "top_categories": 1}
    )
    run = services.segmentation_run(definition=definition)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert [c for c in run.metrics["features"] if c.startswith("share_")] == ["share_Gadgets"]

    everyone = Customer.objects.count()
    shop_net = _net(Interaction.objects.all())
    revenue_shares = []
    for segment in run.segments.all():
        members = selectors.segment_member_ids(segment_id=segment.pk)
        profile = segment.profile
        events = Interaction.objects.filter(customer_id__in=members)
        assert segment.size == profile["size"] == len(members)
        assert profile["share"] == pytest.approx(len(members) / everyone, abs=1e-6)

        revenue_shares.append(profile["revenue_share"])
        assert profile["revenue_share"] == pytest.approx(_net(events) / shop_net, abs=1e-6)

        # The segment's merchandise spend per category over its merchandise spend in all categories.
        by_category = dict(
            events.filter(kind=InteractionKind.PURCHASE, product__is_merchandise=True)
            .values_list("product__category__name")
            .annotate(total=Sum("amount"))
        )
        total = sum(by_category.values())
        expected = sorted(((c, float(v / total)) for c, v in by_category.items()), key=lambda item: -item[1])
        shown = [(c["category"], c["spend_share"]) for c in profile["top_categories"]]
        assert [c for c, _ in shown] == [c for c, _ in expected[:3]]
        for (_, share), (_, want) in zip(shown, expected, strict=False):
            assert share == pytest.approx(want, abs=1e-4)
        if segment.key != "no_purchases":
            assert "Books" in dict(shown)  # not a feature column, still counted
            assert sum(s for _, s in shown) == pytest.approx(1.0, abs=1e-3)

        features = profile["features"]
        orders = Counter(
            customer
            for customer, _ in set(events.filter(kind=InteractionKind.PURCHASE).values_list("customer_id", "order_ref"))
        )
        assert features["frequency"]["mean"] == pytest.approx(sum(orders.values()) / len(members), abs=1e-4)
        net_each = sum(_net(events.filter(customer_id=m)) for m in members) / len(members)
        assert features["monetary"]["mean"] == pytest.approx(net_each, abs=1e-3)
        views = events.aggregate(n=Count("pk", filter=Q(kind=InteractionKind.VIEW)))["n"]
        assert features["views"]["mean"] == pytest.approx(views / len(members), abs=1e-4)

        for product in profile["top_products"]:
            buyers = (
                events.filter(kind=InteractionKind.PURCHASE, product_id=product["product_id"])
                .values("customer_id")
                .distinct()
                .count()
            )
            assert product["buyers"] == buyers
            assert product["share_of_members"] == pytest.approx(buyers / len(members), abs=1e-4)
    assert sum(revenue_shares) == pytest.approx(1.0, abs=1e-5)


def test_descriptions_quote_the_segments_own_share_of_spend(shop):
    definition = services.segmentation_definition_create(name="Words", method="kmeans", parameters={"k": 2})
    run = services.segmentation_run(definition=definition)
    for segment in run.segments.exclude(key="no_purchases"):
        shares = segment.profile["category_spend_shares"]
        for category, share in shares.items():
            if f"of spend on {category}" in segment.description:
                assert f"{share:.0%} of spend on {category}" in segment.description
        label = segment.profile["features"]["share_Gadgets"]["label"]
        assert label == "member's share of spend on Gadgets (smoothed)"
