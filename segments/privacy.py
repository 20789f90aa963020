"""The customer's segment memberships, for shop.privacy's export and erasure."""

from segments.models import Membership
from shop.privacy import register_personal_data


def _export(customer) -> list[dict]:
    memberships = (
        Membership.objects.filter(customer=customer)
        .select_related("segment__run__definition")
        .order_by("segment__run_id", "segment_id")
    )
    return [
        {
            "segmentation": m.segment.run.definition.name,
            "run": m.segment.run_id,
            "segment": m.segment.name,
            "computed_at": m.segment.run.finished_at,
        }
        for m in memberships
    ]


def _erase(customer) -> int:
    return Membership.objects.filter(customer=customer).delete()[0]


register_personal_data(name="segment_memberships", export=_export, erase=_erase)
