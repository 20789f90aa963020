"""A small shop as the staff pages see it: customers with events, a K-means and an RFM segmentation (the RFM run
with a previous run and movement), trained models (one serving, one candidate, one failed), a running job and
a measured campaign. `scale` multiplies the rows, so tests can show the query count does not grow with them."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from marketing.models import Campaign, Recipient, Variant
from recommender.models import TrainingRun
from segments.models import Membership, Segment, SegmentationDefinition, SegmentationRun
from tests.factories import CustomerFactory, ProductFactory, PurchaseFactory

RFM_RULES = [
    ("champions", "Champions", "4–5", "4–5"),
    ("at_risk", "At Risk", "1–2", "3–5"),
    ("lost", "Lost", "1–3", "1–2"),
]


def chart_islands(page: str) -> dict[str, dict]:
    """The charts' data islands of a page (json_script), by id."""
    found = re.findall(r'<script id="([^"]+)" type="application/json">(.*?)</script>', page, flags=re.S)
    return {chart_id: json.loads(text) for chart_id, text in found}


def visible_text(page: str) -> str:
    """The page without its scripts: what a reader can see."""
    return re.sub(r"<script\b.*?</script>", "", page, flags=re.S)


def profile(z: float, *, rfm: tuple[str, str] | None = None) -> dict:
    result = {
        "features": {
            "frequency": {"z": z, "mean": 3.0 + z, "overall": 3.0, "label": "orders"},
            "recency_days": {"z": -z / 2, "mean": 40.0, "overall": 60.0, "label": "days since last order"},
            "share_Books": {"z": 0.2, "mean": 0.1, "overall": 0.08, "label": "member's share of spend on Books"},
            "views": {"z": 0.1, "mean": 9.0, "overall": 8.5, "label": "product views"},
        },
        "top_categories": [{"category": "Books", "spend_share": 0.4321}],
        "top_products": [{"sku": "B1", "name": "A book", "buyers": 3, "product_id": 1, "share_of_members": 0.25}],
        "revenue_share": 0.3,
    }
    if rfm:
        result["rfm_rule"] = {"r": rfm[0], "fm": rfm[1], "group": "x", "meaning": "x"}
    return result


def build_shop(*, scale: int = 1) -> dict:
    now = timezone.now()
    product = ProductFactory(sku="B1", name="A book", price="10.00")
    customers = [
        CustomerFactory(external_id=f"s{i}", name=f"Customer {i}", signed_up_at=now - timedelta(days=40 * (i % 9)))
        for i in range(6 * scale)
    ]
    for i, customer in enumerate(customers):
        PurchaseFactory(customer=customer, product=product, occurred_at=now - timedelta(days=7 * i), amount="10.00")

    kmeans = SegmentationDefinition.objects.create(name="Learned", method="kmeans")
    rfm = SegmentationDefinition.objects.create(name="RFM", method="rfm")
    done = {"status": "succeeded", "progress": 100, "started_at": now - timedelta(minutes=5), "finished_at": now}
    old_rfm = SegmentationRun.objects.create(definition=rfm, method="rfm", **done)
    old_segment = Segment.objects.create(run=old_rfm, key="all", name="Everyone", size=len(customers), share=1.0)
    rfm_run = SegmentationRun.objects.create(definition=rfm, method="rfm", previous_run=old_rfm, **done)
    km_run = SegmentationRun.objects.create(
        definition=kmeans,
        method="kmeans",
        metrics={"silhouette": 0.2629617, "projection_explained": [0.4123, 0.2]},
        **done,
    )
    SegmentationDefinition.objects.filter(pk=rfm.pk).update(active_run=rfm_run)
    SegmentationDefinition.objects.filter(pk=kmeans.pk).update(active_run=km_run)
    segments = []
    for n, (key, name, r, fm) in enumerate(RFM_RULES):
        members = customers[n::3]
        segment = Segment.objects.create(
            run=rfm_run,
            key=key,
            name=name,
            size=len(members),
            share=round(len(members) / len(customers), 4),
            profile=profile(1.0 - n, rfm=(r, fm)),
        )
        Membership.objects.bulk_create(Membership(segment=segment, customer=c) for c in members)
        segments.append(segment)
    km_segment = Segment.objects.create(
        run=km_run,
        key="0",
        name="Book lovers",
        size=len(customers),
        share=1.0,
        profile={**profile(1.5), "projection": [[1.0, -0.5], [2.0, 0.5], [3.0, 1.5]]},
    )
    Membership.objects.bulk_create(Membership(segment=km_segment, customer=c) for c in customers)
    Membership.objects.bulk_create(Membership(segment=old_segment, customer=c) for c in customers)
    SegmentationRun.objects.filter(pk=rfm_run.pk).update(
        movement=[
            {"from": old_segment.pk, "from_name": "Everyone", "to": s.pk, "to_name": s.name, "customers": s.size}
            for s in segments
        ]
    )
    # Jobs: a running segmentation, a failed training with its reason.
    SegmentationRun.objects.create(
        definition=kmeans, method="kmeans", status="running", progress=40, stage="clustering", started_at=now
    )
    TrainingRun.objects.create(algorithm="als", status="failed", error="out of memory while fitting", finished_at=now)

    artifacts = Path(settings.MEDIA_ROOT) / "models"
    artifacts.mkdir(parents=True, exist_ok=True)
    runs = []
    for i in range(2 * scale):
        path = artifacts / f"staff-test-{i}.npz"
        path.write_bytes(b"test")
        runs.append(
            TrainingRun.objects.create(
                algorithm="ease",
                status="succeeded",
                metrics={"ndcg@10": 0.25 + i / 100, "recall@10": 0.3, "coverage": 0.4, "eval_users": 1987},
                duration_seconds=4.790661623000005,
                artifact_path=f"models/staff-test-{i}.npz",
                n_users=2000,
                n_items=300,
                finished_at=now,
            )
        )
    serving = runs[0]
    TrainingRun.objects.filter(pk=serving.pk).update(is_active=True, promoted_at=now - timedelta(days=1))

    campaign = Campaign.objects.create(
        name="Spring sale", status=Campaign.Status.COMPLETED, holdout_share=0.5, launched_at=now - timedelta(days=3)
    )
    campaign.included_segments.add(segments[0])
    variant = Variant.objects.create(campaign=campaign, name="A")
    Recipient.objects.bulk_create(
        Recipient(
            campaign=campaign,
            customer=c,
            variant=None if i % 2 else variant,
            is_control=bool(i % 2),
            status="sent" if not i % 2 else "control",
            sent_at=None if i % 2 else now - timedelta(days=3),
            opened_at=now - timedelta(days=2) if i % 4 == 0 else None,
            conversions=1 if i % 3 == 0 else 0,
            revenue=Decimal("10.00") if i % 3 == 0 else Decimal("0"),
            segment=segments[i % 3],
            segment_name=segments[i % 3].name,
        )
        for i, c in enumerate(customers)
    )
    return {
        "customers": customers,
        "rfm_run": rfm_run,
        "km_run": km_run,
        "runs": runs,
        "serving": serving,
        "campaign": campaign,
        "segments": segments,
    }
