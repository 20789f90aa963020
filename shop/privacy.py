"""A customer's right of access and right to be forgotten: export everything held about them, or erase it.

Each app holding personal data about customers registers a `PersonalData` source in its own `privacy` module
(`segments/privacy.py`, `recommender/privacy.py`, `marketing/privacy.py`), found the way admin modules are;
the shop's own data (the customer row, consents, interactions) is handled here. Both operations write a
`PrivacyRequest` audit row saying who asked and when, with counts but nothing about whose data it was.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import autodiscover_modules

from shop.models import ApiClient, Customer, Interaction, PrivacyAction, PrivacyRequest

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

ERASED_REPR = "(erased customer)"
CUSTOMER_FIELDS = (
    "external_id",
    "email",
    "name",
    "gender",
    "birth_year",
    "city",
    "postal_code",
    "country",
    "signed_up_at",
    "attributes",
    "is_stub",
    "created_at",
    "updated_at",
)
CONSENT_CHANNELS = ("email", "sms", "push")


@dataclass(frozen=True)
class PersonalData:
    """One app's data about a customer: `export` returns it as JSON-ready values, `erase` deletes it and
    returns how many rows went. Erasers run before the customer row is deleted, in registration order."""

    name: str
    export: Callable[[Customer], Any]
    erase: Callable[[Customer], int]


_sources: dict[str, PersonalData] = {}
_discovered = False


def register_personal_data(*, name: str, export: Callable[[Customer], Any], erase: Callable[[Customer], int]) -> None:
    _sources[name] = PersonalData(name=name, export=export, erase=erase)


def personal_data_sources() -> list[PersonalData]:
    global _discovered
    if not _discovered:
        autodiscover_modules("privacy")
        _discovered = True
    return list(_sources.values())


def _customer_data(customer: Customer) -> dict:
    return {field: getattr(customer, field) for field in CUSTOMER_FIELDS}


def _consents(customer: Customer) -> dict:
    return {
        channel: {
            "given": getattr(customer, f"{channel}_consent"),
            "changed_at": getattr(customer, f"{channel}_consent_changed_at"),
        }
        for channel in CONSENT_CHANNELS
    }


def _interactions(customer: Customer) -> list[dict]:
    rows = (
        Interaction.objects.filter(customer=customer)
        .order_by("occurred_at", "pk")
        .values(
            "event_id",
            "kind",
            "product__sku",
            "value",
            "quantity",
            "amount",
            "order_ref",
            "source",
            "occurred_at",
            "recommendation_id",
            "coupon",
        )
    )
    return [{("sku" if k == "product__sku" else k): v for k, v in row.items()} for row in rows.iterator(2000)]


def _actor(*, api_client: ApiClient | None, user: AbstractBaseUser | None) -> str:
    if api_client is not None:
        return f"API client {api_client.name}"
    if user is not None:
        return f"staff {user.get_username()}"
    return "command line"


def _audit(action: str, *, api_client: ApiClient | None, user: AbstractBaseUser | None, counts: dict) -> PrivacyRequest:
    return PrivacyRequest.objects.create(
        action=action,
        api_client=api_client,
        user=user if user is not None and user.is_authenticated else None,
        actor=_actor(api_client=api_client, user=user),
        counts=counts,
    )


@transaction.atomic
def export_customer(
    *, customer: Customer, api_client: ApiClient | None = None, user: AbstractBaseUser | None = None
) -> dict:
    """Everything held about the customer, as one JSON-ready document; audited."""
    document: dict[str, Any] = {
        "exported_at": timezone.now(),
        "customer": _customer_data(customer),
        "consents": _consents(customer),
        "interactions": _interactions(customer),
    }
    for source in personal_data_sources():
        document[source.name] = source.export(customer)
    counts = {name: len(value) for name, value in document.items() if isinstance(value, list)}
    _audit(PrivacyAction.EXPORT, api_client=api_client, user=user, counts=counts)
    return document


@transaction.atomic
def erase_customer(
    *, customer: Customer, api_client: ApiClient | None = None, user: AbstractBaseUser | None = None
) -> PrivacyRequest:
    """Delete the customer and everything about them, strip them from admin history; audited.

    Serving stops personalising for them at once: it looks customers up per request, and their precomputed
    lists are deleted with them; their row in the trained model's artifact is never served again and is gone
    with the next training.
    """
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    counts: dict[str, int] = {}
    for source in personal_data_sources():
        counts[source.name] = source.erase(customer)
    counts["interactions"] = Interaction.objects.filter(customer=customer).delete()[0]
    counts["admin_history"] = LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Customer), object_id=str(customer.pk)
    ).update(object_repr=ERASED_REPR, change_message="")
    customer.delete()
    counts["customer"] = 1
    return _audit(PrivacyAction.ERASURE, api_client=api_client, user=user, counts=counts)
