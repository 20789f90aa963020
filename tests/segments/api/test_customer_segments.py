import pytest
from django.urls import reverse

from tests.factories import CustomerFactory
from tests.segments.factories import MembershipFactory, SegmentationRunFactory, SegmentFactory, activate

pytestmark = pytest.mark.django_db


def _url(external_id):
    return reverse("v1:customer-segments", args=[external_id])


def test_lists_the_customers_segments_in_every_active_segmentation(api_client):
    customer = CustomerFactory(external_id="c-42")
    old = SegmentFactory(name="Old news")
    current = SegmentFactory(
        name="Lapsed big spenders",
        description="last order 210 days ago",
        run=activate(SegmentationRunFactory(definition=old.run.definition)),
    )
    rfm = SegmentFactory(
        name="Champions",
        key="champions",
        run=activate(SegmentationRunFactory(definition__method="rfm", definition__name="RFM")),
    )
    for segment in (old, current, rfm):
        MembershipFactory(customer=customer, segment=segment)

    response = api_client.get(_url("c-42"))

    assert response.status_code == 200
    body = response.json()
    assert body["customer"] == "c-42"
    by_name = {s["name"]: s for s in body["segments"]}
    assert set(by_name) == {"Lapsed big spenders", "Champions"}
    assert by_name["Champions"]["segmentation"] == "RFM" and by_name["Champions"]["method"] == "rfm"
    assert by_name["Lapsed big spenders"]["description"] == "last order 210 days ago"
    assert by_name["Lapsed big spenders"]["run"] == current.run_id


def test_customer_in_no_segment_gets_an_empty_list(api_client):
    CustomerFactory(external_id="lonely")
    assert api_client.get(_url("lonely")).json() == {"customer": "lonely", "segments": []}


def test_unknown_customer_is_404(api_client):
    assert api_client.get(_url("nobody")).status_code == 404


def test_needs_an_api_key(anon_client, db):
    CustomerFactory(external_id="c-1")
    assert anon_client.get(_url("c-1")).status_code in (401, 403)
