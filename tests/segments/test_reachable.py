"""A run stores each segment's members with email consent (the next-best campaign's audience), so the staff pages
read them instead of joining every membership with its customer."""

import pytest

from segments import selectors, services
from shop.models import Customer
from tests.segments.factories import build_shop

pytestmark = pytest.mark.django_db


def test_a_run_stores_each_segments_members_with_email_consent():
    shop = build_shop()
    consenting = [c.pk for c in shop["customers"]["big"][::2]]
    Customer.objects.filter(pk__in=consenting).update(email_consent=True)
    definition = services.segmentation_definition_create(name="RFM", method="rfm")

    run = services.segmentation_run(definition=definition)

    segments = list(run.segments.all())
    assert sum(s.reachable for s in segments) == len(consenting)
    for segment in segments:
        members = selectors.segment_member_ids(segment_id=segment.pk)
        assert segment.reachable == Customer.objects.filter(pk__in=members, email_consent=True).count()
