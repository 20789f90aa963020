"""Open pixel, click redirect and unsubscribe: signed tokens, no open redirect, consent withdrawn at once."""

from urllib.parse import urlsplit

import pytest
from django.core import mail, signing
from django.test import Client

from marketing import delivery, services
from marketing.models import Campaign, Recipient
from marketing.tracking import (
    BadToken,
    RecipientKey,
    RecipientLinks,
    click_url,
    make_click_token,
    make_open_token,
    make_product_click_token,
    make_unsubscribe_token,
    open_url,
    read_click_token,
    unsubscribe_url,
)
from shop.models import Product
from tests.marketing.campaign_helpers import active_segment, campaign_for, customers, fresh_serving, popular_products  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent():
    popular_products(2)
    people = customers(2)
    campaign = campaign_for(active_segment(people))
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.SENDING)
    campaign.refresh_from_db()
    services.campaign_build_audience(campaign=campaign)
    delivery.send_campaign_messages(campaign=campaign)
    return campaign, campaign.recipients.order_by("pk").first()


def _key(row):
    return RecipientKey(row.campaign_id, row.customer_id, row.entry)


def test_open_pixel_records_the_first_open(sent, client: Client):
    _campaign, row = sent
    response = client.get(f"/m/o/{make_open_token(_key(row))}.gif")
    assert response.status_code == 200 and response["Content-Type"] == "image/gif"
    row.refresh_from_db()
    first = row.opened_at
    assert first is not None
    client.get(f"/m/o/{make_open_token(_key(row))}.gif")
    row.refresh_from_db()
    assert row.opened_at == first


def test_click_redirects_to_the_signed_target_and_records_it(sent, client: Client):
    _campaign, row = sent
    target = "https://shop.example.com/products/P1?rec=abc"
    response = client.get(f"/m/c/{make_click_token(_key(row), target)}")
    assert response.status_code == 302 and response["Location"] == target
    row.refresh_from_db()
    assert row.clicked_at is not None and row.opened_at is not None


def test_links_in_the_sent_message_work(sent, client: Client):
    _campaign, row = sent
    link = next(part for part in row.body_html.split('"') if "/m/c/" in part)
    response = client.get(urlsplit(link).path)
    assert response.status_code == 302
    assert response["Location"].startswith("https://shop.example.com/products/")
    assert f"rec={row.recommendation_id}" in response["Location"]


@pytest.mark.parametrize("kind", ["o", "c", "u"])
def test_tampered_tokens_get_a_400(sent, client: Client, kind):
    _campaign, row = sent
    token = {
        "o": make_open_token(_key(row)),
        "c": make_click_token(_key(row), "https://shop.example.com/"),
        "u": make_unsubscribe_token(_key(row)),
    }[kind]
    payload, signature = token.rsplit(":", 1)
    tampered = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB") + ":" + signature
    suffix = ".gif" if kind == "o" else ""
    assert client.get(f"/m/{kind}/{tampered}{suffix}").status_code == 400
    assert client.get(f"/m/{kind}/garbage{suffix}").status_code == 400
    row.refresh_from_db()
    assert row.opened_at is None and row.clicked_at is None


def test_no_open_redirect(sent, client: Client):
    _campaign, row = sent
    # A token for another target cannot be made without the secret; one signed with another salt is refused.
    forged = signing.Signer(salt="marketing.open").sign_object([*_key(row).parts(), "https://evil.example.com"])
    assert client.get(f"/m/c/{forged}").status_code == 400
    # A signed token whose target is not a web address (javascript:, relative) is refused too.
    for target in ("javascript:alert(1)", "//evil.example.com", "/admin/"):
        token = signing.Signer(salt="marketing.click").sign_object([*_key(row).parts(), target])
        assert client.get(f"/m/c/{token}").status_code == 400
    with pytest.raises(BadToken):
        read_click_token(make_click_token(_key(row), "https://a.example.com") + "x")


def test_unsubscribe_asks_then_withdraws_consent_at_once_for_every_unsent_campaign(sent, client: Client):
    _campaign, row = sent
    token = make_unsubscribe_token(_key(row))
    page = client.get(f"/m/u/{token}")
    assert page.status_code == 200 and b'<form method="post"' in page.content
    customer = row.customer
    customer.refresh_from_db()
    assert customer.email_consent  # a GET (a link scanner) changes nothing
    # Another campaign, built but not sent yet, reaching the same customer.
    other = campaign_for(active_segment([customer], key="other"), name="Autumn")
    Campaign.objects.filter(pk=other.pk).update(status=Campaign.Status.SENDING)
    services.campaign_build_audience(campaign=other)
    mail.outbox.clear()

    response = Client(enforce_csrf_checks=True).post(f"/m/u/{token}", {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    customer.refresh_from_db()
    assert customer.email_consent is False and customer.email_consent_changed_at is not None
    row.refresh_from_db()
    assert row.unsubscribed_at is not None
    pending = Recipient.objects.get(campaign=other, customer=customer)
    assert (pending.status, pending.exclusion) == ("excluded", "unsubscribed")
    delivery.send_campaign_messages(campaign=Campaign.objects.get(pk=other.pk))
    assert mail.outbox == []


def test_tokens_are_django_signatures():
    key = RecipientKey(3, 7, 1)
    assert signing.Signer(salt="marketing.open").unsign_object(make_open_token(key)) == [3, 7, 1]
    target = "https://shop.example.com/p?x=1"
    assert signing.Signer(salt="marketing.click").unsign_object(make_click_token(key, target)) == [3, 7, 1, target]
    assert read_click_token(make_click_token(key, target)) == (key, target)


@pytest.mark.parametrize(
    "target",
    [
        "https://shop.example.com/p?x=1&rec=18c8a7b2a3f.3.3039",
        'https://shop.example.com/café/ünïcode?q="quoted"\\',
        "http://shop.example.com/" + "long/" * 200,
    ],
)
def test_fast_tokens_are_byte_for_byte_what_django_signs(settings, target):
    settings.MARKETING_BASE_URL = "https://track.example.com/"
    key = RecipientKey(12, 345678, 2)
    parts = [12, 345678, 2]
    assert make_click_token(key, target) == signing.Signer(salt="marketing.click").sign_object([*parts, target])
    assert make_open_token(key) == signing.Signer(salt="marketing.open").sign_object(parts)
    assert make_unsubscribe_token(key) == signing.Signer(salt="marketing.unsubscribe").sign_object(parts)
    assert make_product_click_token(key, 987) == signing.Signer(salt="marketing.click").sign_object([*parts, 987])
    links = RecipientLinks(key)
    assert links.click(target) == click_url(key, target)
    assert links.click(target).startswith("https://track.example.com/m/c/")
    assert links.open() == open_url(key) and links.unsubscribe() == unsubscribe_url(key)
    assert read_click_token(urlsplit(links.click(target)).path.rsplit("/", 1)[1]) == (key, target)


def test_product_links_name_only_the_product_and_resolve_its_page_on_the_server(sent, client: Client):
    _campaign, row = sent
    link = next(part for part in row.body_html.split('"') if "/m/c/" in part)
    token = urlsplit(link).path.rsplit("/", 1)[1]
    key, target = read_click_token(token)
    assert key == _key(row)
    product = Product.objects.get(pk=target.product_id)
    assert product.sku in row.recommended_skus
    assert signing.Signer(salt="marketing.click").unsign_object(token) == [*_key(row).parts(), product.pk]
    assert len(token) < 80  # a fifth of a token carrying the whole address
    # The page as the shop's feed gives it now, with the recipient's recommendation id.
    Product.objects.filter(pk=product.pk).update(attributes={"link": "https://shop.example.com/p/teapot?c=2"})
    response = client.get(f"/m/c/{token}")
    assert response.status_code == 302
    assert response["Location"] == (
        f"https://shop.example.com/p/teapot?c=2&rec={row.recommendation_id}"
        f"&utm_source=campaign&utm_campaign={row.campaign_id}"
    )
    row.refresh_from_db()
    assert row.clicked_at is not None


def test_product_link_of_a_product_gone_from_the_catalogue_is_a_404(sent, client: Client):
    _campaign, row = sent
    token = make_product_click_token(_key(row), 10**9)
    response = client.get(f"/m/c/{token}")
    assert response.status_code == 404 and b"no longer available" in response.content
    row.refresh_from_db()
    assert row.clicked_at is None


@pytest.mark.parametrize("target", [0, -3, True, 1.5, None, ["https://shop.example.com/"]])
def test_click_tokens_naming_no_product_or_address_are_refused(sent, client: Client, target):
    _campaign, row = sent
    token = signing.Signer(salt="marketing.click").sign_object([*_key(row).parts(), target])
    assert client.get(f"/m/c/{token}").status_code == 400


def test_tampered_product_token_gets_a_400(sent, client: Client):
    _campaign, row = sent
    product = Product.objects.first()
    token = make_product_click_token(_key(row), product.pk)
    payload, signature = token.rsplit(":", 1)
    # Another product (or recipient) under the same signature.
    forged = make_product_click_token(_key(row), product.pk + 1).rsplit(":", 1)[0] + ":" + signature
    assert client.get(f"/m/c/{forged}").status_code == 400
    altered = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    assert client.get(f"/m/c/{payload}:{altered}").status_code == 400
    assert client.get(f"/m/c/{token}").status_code == 302
