"""The browser client's visitor id, run in Node against a stand-in browser, its batches then posted to our events
API as the browser would: what a visitor browses before signing in ends up on the customer, once."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders

from shop.models import AnonymousProfile, Interaction

pytestmark = pytest.mark.django_db

HARNESS = r"""
const path = process.argv[2];
const store = {};
const sent = [];
const listeners = {};
global.window = {
  localStorage: {
    getItem: (k) => (k in store ? store[k] : null),
    setItem: (k, v) => { store[k] = String(v); },
    removeItem: (k) => { delete store[k]; },
  },
  sessionStorage: { getItem: () => null, setItem: () => {} },
  crypto: { randomUUID: require("crypto").randomUUID },
  console: console,
  setInterval: () => 0,
  setTimeout: (f) => 0,
  addEventListener: (name, f) => { listeners[name] = f; },
  document: { addEventListener: () => {}, visibilityState: "visible" },
  fetch: (url, options) => {
    sent.push({ url: url, body: JSON.parse(options.body) });
    const answer = { results: [] };
    return Promise.resolve({
      status: 200, ok: true, headers: { get: () => null }, json: () => Promise.resolve(answer),
    });
  },
};
require(path);
const ShopClient = window.ShopClient;
const settle = () => new Promise((resolve) => setImmediate(resolve));

(async () => {
  const options = { apiBase: "https://shop.test/api/v1", apiKey: "k" };
  // Page 1: an anonymous visitor browses.
  let shop = ShopClient.init(options);
  shop.track("view", "P1", { value: 12 });
  shop.addToCart("P1", { quantity: 1 });
  await shop.flush(); await settle();
  // Page 2: signs in.
  shop.identify("C-9");
  await settle(); await shop.flush(); await settle();
  shop.purchase({ orderRef: "o-1", items: [{ sku: "P1", quantity: 1, amount: "10.00" }] });
  await settle(); await shop.flush(); await settle();
  const batchesBeforeReload = sent.length;
  // Page 3: a new page of the signed-in customer: no second login.
  shop = ShopClient.init({ ...options, customerId: "C-9" });
  shop.track("view", "P2");
  await shop.flush(); await settle();
  const visitor = shop.visitorId();
  // Signs out: the next shopper on this browser is a new visitor.
  shop.reset();
  shop.track("view", "P3");
  await shop.flush(); await settle();
  console.log(JSON.stringify({ sent, visitor, next: shop.visitorId(), batchesBeforeReload }));
})();
"""


@pytest.fixture
def node_run(tmp_path):
    node = shutil.which("node")
    if node is None:
        # The build needs Node.js anyway (make assets runs npm ci): without it the set-up is broken; never skip.
        pytest.fail("Node.js is not installed: make assets (npm) and this test of the browser client need it")
    harness = tmp_path / "harness.js"
    harness.write_text(HARNESS)
    client = Path(finders.find("shop/shop-client.js"))
    done = subprocess.run([node, str(harness), str(client)], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_what_a_visitor_browsed_before_signing_in_is_on_the_customer_once(node_run, api_client):
    events = [event for batch in node_run["sent"] for event in batch["body"]["events"]]
    logins = [event for event in events if event["kind"] == "login"]
    # One login, from the sign-in; the next page of the signed-in customer sent none.
    assert logins == [
        {
            "event_id": logins[0]["event_id"],
            "kind": "login",
            "customer_id": "C-9",
            "anonymous_id": node_run["visitor"],
            "occurred_at": logins[0]["occurred_at"],
        }
    ]
    before = events[: events.index(logins[0])]
    visitor = node_run["visitor"]
    assert [(e["kind"], e["anonymous_id"]) for e in before] == [("view", visitor), ("cart", visitor)]
    assert all("customer_id" not in e for e in before)
    assert node_run["next"] != node_run["visitor"]
    assert events[-1]["anonymous_id"] == node_run["next"] and "customer_id" not in events[-1]

    for batch in node_run["sent"]:  # as the browser sent them, in order
        assert batch["url"] == "https://shop.test/api/v1/events"
        assert api_client.post("/api/v1/events", data=batch["body"], format="json").status_code == 200

    assert sorted(Interaction.objects.filter(customer__external_id="C-9").values_list("kind", "product__sku")) == [
        ("cart", "P1"),
        ("purchase", "P1"),
        ("view", "P1"),
        ("view", "P2"),
    ]
    joined = AnonymousProfile.objects.get(anonymous_id=node_run["visitor"])
    assert (joined.customer.external_id, joined.moved_interactions) == ("C-9", 2)
    # The visitor after sign-out is someone else's history, not the customer's.
    assert Interaction.objects.get(product__sku="P3").customer.external_id == f"anon:{node_run['next']}"
