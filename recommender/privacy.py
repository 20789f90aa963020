"""Recommendations served to a customer, for shop.privacy's export and erasure.

The log has no database constraint to the customer (a batch may be written after a customer is deleted), so
its rows are deleted here explicitly rather than left to a cascade.
"""

from recommender.models import ServedRecommendation
from shop.privacy import register_personal_data


def _export(customer) -> list[dict]:
    rows = (
        ServedRecommendation.objects.filter(customer_id=customer.pk)
        .order_by("served_at", "pk")
        .values("recommendation_id", "surface", "skus", "reasons", "served_at")
    )
    return list(rows.iterator(2000))


def _erase(customer) -> int:
    return ServedRecommendation.objects.filter(customer_id=customer.pk).delete()[0]


register_personal_data(name="served_recommendations", export=_export, erase=_erase)
