"""Factories for segmentations, runs, segments and memberships."""

import factory
from factory.django import DjangoModelFactory

from segments.models import Membership, RunStatus, Segment, SegmentationDefinition, SegmentationMethod, SegmentationRun
from tests.factories import CustomerFactory


class SegmentationDefinitionFactory(DjangoModelFactory):
    class Meta:
        model = SegmentationDefinition
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"segmentation-{n}")
    method = SegmentationMethod.KMEANS
    parameters = factory.LazyFunction(dict)


class SegmentationRunFactory(DjangoModelFactory):
    class Meta:
        model = SegmentationRun

    definition = factory.SubFactory(SegmentationDefinitionFactory)
    method = factory.LazyAttribute(lambda o: o.definition.method)
    status = RunStatus.SUCCEEDED
    progress = 100


class SegmentFactory(DjangoModelFactory):
    class Meta:
        model = Segment

    run = factory.SubFactory(SegmentationRunFactory)
    key = factory.Sequence(lambda n: f"k{n}")
    name = factory.Sequence(lambda n: f"Segment {n}")


class MembershipFactory(DjangoModelFactory):
    class Meta:
        model = Membership

    customer = factory.SubFactory(CustomerFactory)
    segment = factory.SubFactory(SegmentFactory)


def activate(run: SegmentationRun) -> SegmentationRun:
    """Make `run` the active run of its definition (what a successful run does)."""
    SegmentationDefinition.objects.filter(pk=run.definition_id).update(active_run=run)
    run.definition.refresh_from_db()
    return run
