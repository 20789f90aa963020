"""Segment pages in admin show shares as percentages, not raw fractions."""

import re

import pytest
from django.urls import reverse

from segments.models import Segment, SegmentationDefinition, SegmentationRun

pytestmark = pytest.mark.django_db


def test_a_segments_share_reads_as_a_percentage_on_its_page_and_its_runs_page(admin_client):
    definition = SegmentationDefinition.objects.create(name="RFM", method="rfm")
    run = SegmentationRun.objects.create(definition=definition, method="rfm", status="succeeded")
    segment = Segment.objects.create(run=run, key="champions", name="Champions", size=259, share=0.259)

    page = admin_client.get(reverse("admin:segments_segment_change", args=[segment.pk])).content.decode()
    run_page = admin_client.get(reverse("admin:segments_segmentationrun_change", args=[run.pk])).content.decode()

    for html in (page, run_page):
        assert re.search(r">25\.9 ?%<", html)
        assert "0.259" not in html
