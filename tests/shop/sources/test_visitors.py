"""Visitors on our own events API: events sent with the browser client's visitor id before sign-in, joined to the
customer by a `login` event, once."""

import pytest

from shop.models import AnonymousProfile, Customer, Interaction

pytestmark = pytest.mark.django_db
EVENTS = "/api/v1/events"


def send(api_client, *events: dict) -> dict:
    response = api_client.post(EVENTS, data=list(events), format="json")
    assert response.status_code == 200, response.content
    return response.json()


def statuses(body: dict) -> list[str]:
    return [result["status"] for result in body["results"]]


def history(external_id: str) -> list[tuple[str, str]]:
    return sorted(
        Interaction.objects.filter(customer__external_id=external_id).values_list("kind", "product__sku"),
    )


def test_a_visitor_browses_signs_up_logs_in_and_buys_with_their_history_on_the_customer_once(api_client):
    browsed = send(
        api_client,
        {"event_id": "v1", "anonymous_id": "visitor-1", "sku": "P1", "kind": "view", "value": 30},
        {"event_id": "v2", "anonymous_id": "visitor-1", "sku": "P1", "kind": "cart", "quantity": 1},
    )
    assert statuses(browsed) == ["accepted", "accepted"]
    assert history("anon:visitor-1") == [("cart", "P1"), ("view", "P1")]

    assert api_client.put("/api/v1/customers/C-1", data={"email": "new@example.com"}, format="json").status_code == 201
    login = {"event_id": "l1", "kind": "login", "customer_id": "C-1", "anonymous_id": "visitor-1"}
    assert statuses(send(api_client, login)) == ["accepted"]
    purchase = {"event_id": "o1", "customer_id": "C-1", "sku": "P1", "kind": "purchase", "amount": "10.00"}
    assert statuses(send(api_client, purchase)) == ["accepted"]

    assert history("C-1") == [("cart", "P1"), ("purchase", "P1"), ("view", "P1")]
    assert not Customer.objects.filter(external_id="anon:visitor-1").exists()
    profile = AnonymousProfile.objects.get(anonymous_id="visitor-1")
    assert (profile.customer.external_id, profile.moved_interactions) == ("C-1", 2)

    # The login sent again (a page reloaded, a retried batch) changes nothing; the history is there once.
    again = send(api_client, {**login, "event_id": "l2"})
    assert again["results"][0]["status"] == "duplicate"
    assert "joined to a customer before" in again["results"][0]["reason"]
    assert Interaction.objects.count() == 3
    # Later events with the visitor id alone go straight to the customer.
    send(api_client, {"event_id": "v3", "anonymous_id": "visitor-1", "sku": "P2", "kind": "view"})
    assert ("view", "P2") in history("C-1")
    assert not Customer.objects.filter(external_id="anon:visitor-1").exists()


def test_views_sent_in_the_same_batch_as_the_login_move_too_and_an_unknown_customer_is_made(api_client):
    body = send(
        api_client,
        {"event_id": "v1", "anonymous_id": "visitor-2", "sku": "P1", "kind": "view"},
        {"event_id": "l1", "kind": "login", "customer_id": "C-2", "anonymous_id": "visitor-2"},
        {"event_id": "v2", "customer_id": "C-2", "sku": "P2", "kind": "view"},
    )
    assert statuses(body) == ["accepted", "accepted", "accepted"]
    assert [result["index"] for result in body["results"]] == [0, 1, 2]
    assert history("C-2") == [("view", "P1"), ("view", "P2")]
    assert Customer.objects.get(external_id="C-2").is_stub  # completed later by the customer upsert


def test_bad_visitor_events_are_rejected_naming_the_field_while_the_rest_is_stored(api_client):
    body = send(
        api_client,
        {"event_id": "l1", "kind": "login", "customer_id": "C-3"},
        {"event_id": "l2", "kind": "login", "anonymous_id": "visitor-3"},
        {"event_id": "v1", "anonymous_id": "x" * 101, "sku": "P1", "kind": "view"},
        {"event_id": "v2", "anonymous_id": "visitor-3", "sku": "P1", "kind": "view"},
    )
    assert statuses(body) == ["rejected", "rejected", "rejected", "accepted"]
    assert list(body["results"][0]["errors"]) == ["anonymous_id"]
    assert list(body["results"][1]["errors"]) == ["customer_id"]
    assert "anonymous_id" in body["results"][2]["errors"]
    assert (body["accepted"], body["rejected"]) == (1, 3)
    assert history("anon:visitor-3") == [("view", "P1")]


def test_a_customer_id_wins_over_a_visitor_id_on_an_ordinary_event(api_client):
    send(api_client, {"event_id": "v1", "customer_id": "C-4", "anonymous_id": "visitor-4", "sku": "P1", "kind": "view"})
    assert history("C-4") == [("view", "P1")]
    assert not AnonymousProfile.objects.exists()
