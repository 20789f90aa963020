import pytest

from segments import selectors
from tests.factories import CustomerFactory
from tests.segments.factories import MembershipFactory, SegmentationRunFactory, SegmentFactory, activate

pytestmark = pytest.mark.django_db


def _two_segmentations():
    customer, other = CustomerFactory(), CustomerFactory()
    old_run = SegmentationRunFactory()
    old = SegmentFactory(run=old_run, name="Old")
    new_run = activate(SegmentationRunFactory(definition=old_run.definition))
    current = SegmentFactory(run=new_run, name="Current")
    rfm_run = activate(SegmentationRunFactory())
    champions = SegmentFactory(run=rfm_run, name="Champions")
    for segment in (old, current, champions):
        MembershipFactory(customer=customer, segment=segment)
    MembershipFactory(customer=other, segment=current)
    return customer, other, old, current, champions


def test_customer_segments_lists_only_active_runs_with_their_definition(django_assert_num_queries):
    customer, _other, _old, current, champions = _two_segmentations()
    with django_assert_num_queries(1):
        segments = selectors.customer_segments(customer_id=customer.id)
        definitions = {s.run.definition.name for s in segments}
    assert {s.id for s in segments} == {current.id, champions.id}
    assert definitions == {current.run.definition.name, champions.run.definition.name}


def test_segment_member_ids():
    customer, other, old, current, _champions = _two_segmentations()
    assert selectors.segment_member_ids(segment_id=current.id) == sorted([customer.id, other.id])
    assert selectors.segment_member_ids(segment_id=old.id) == [customer.id]


def test_active_segment_ids_by_customer_skips_replaced_runs_and_unknown_customers():
    customer, other, _old, current, champions = _two_segmentations()
    result = selectors.active_segment_ids_by_customer(customer_ids=[customer.id, other.id, 999999])
    assert result == {customer.id: sorted([current.id, champions.id]), other.id: [current.id]}
