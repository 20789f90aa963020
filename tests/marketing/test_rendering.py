"""Campaign content: rendered in a sandbox from plain data; template errors caught on save, naming the line."""

from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError

from marketing.audience import build_audience, preview_message
from marketing.models import Offer
from marketing.rendering import compile_content, sample_context, validate_content
from tests.marketing.campaign_helpers import active_segment, campaign_for, customers, fresh_serving, popular_products  # noqa: F401

NOON = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "unsafe",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ customer.__class__ }}",
        "{{ products.append(1) }}",
        "{% for c in ().__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
        "{{ cycler.__init__.__globals__ }}",
    ],
)
def test_sandbox_refuses_unsafe_constructs(unsafe):
    with pytest.raises(ValidationError) as caught:
        validate_content(subject="Hi", html_template=unsafe, text_template="x")
    assert "HTML template, line 1" in str(caught.value)


def test_syntax_and_unknown_names_are_reported_with_their_line():
    with pytest.raises(ValidationError) as caught:
        validate_content(
            subject="{{ customer.first_name }",
            html_template="<p>ok</p>\n<p>{{ customer.frist_name }}</p>",
            text_template="{% for p in products %}",
        )
    errors = caught.value.message_dict
    assert errors["subject"][0].startswith("subject, line 1:")
    assert errors["html_template"][0] == "HTML template, line 2: 'dict object' has no attribute 'frist_name'"
    assert "text template, line 1" in errors["text_template"][0]


def test_offer_code_needs_an_offer():
    with pytest.raises(ValidationError, match="has no attribute 'code'"):
        validate_content(subject="{{ offer.code }}", html_template="", text_template="")
    validate_content(
        subject="{{ offer.code }}", html_template="", text_template="", offer={"code": "X", "description": "10% off"}
    )


def test_html_is_escaped_and_subject_is_one_line():
    content = compile_content(
        subject="Hi\r\nBcc: x@y.z {{ customer.name }}",
        html_template="{{ customer.name }}",
        text_template="{{ customer.name }}",
    )
    context = sample_context()
    context["customer"] = dict(context["customer"], name="<script>alert(1)</script>")
    subject, html, text = content.render(context)
    assert "\n" not in subject and "\r" not in subject
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert text == "<script>alert(1)</script>"


@pytest.mark.django_db
def test_recipient_gets_their_products_offer_code_and_tracked_links(settings):
    settings.MARKETING_BASE_URL = "https://track.example.com"
    for i, product in enumerate(popular_products(3)):
        product.attributes = {"image_link": f"https://img/{i}.jpg"}
        product.save()
    offer = Offer.objects.create(name="Ten", kind="percent", value=10, code_mode="shared", code="TEN")
    campaign = campaign_for(active_segment(customers(1)), offer=offer)
    variant = campaign.variants.get()
    variant.html_template = (
        "{{ offer.description }} {{ offer.code }}{% for p in products %}"
        "<a href='{{ p.url }}'><img src='{{ p.image_url }}'>{{ p.name }} {{ p.price }}</a>{% endfor %}"
    )
    variant.save()
    build_audience(campaign=campaign, now=NOON)
    row = campaign.recipients.get()
    assert row.coupon_code == "TEN"
    assert len(row.recommended_skus) == 2
    assert row.recommendation_id.endswith(f".{row.customer_id:x}")
    assert "10% off TEN" in row.body_html
    assert "https://track.example.com/m/c/" in row.body_html
    assert "https://img/" in row.body_html and "12.50" in row.body_html
    assert "https://track.example.com/m/o/" in row.body_html  # the open pixel


@pytest.mark.django_db
def test_preview_shows_what_the_customer_would_get():
    popular_products(1)[0].__class__.objects.filter(sku="P0").update(name="Teapot")
    person = customers(1)[0]
    campaign = campaign_for(active_segment([person]))
    preview = preview_message(campaign=campaign, variant=campaign.variants.get(), customer=person)
    assert preview["subject"] == f"Hi {person.name.split()[0]}"
    assert "Teapot" in preview["body_text"]
    assert preview["exclusion"] == ""
    assert campaign.recipients.count() == 0


@pytest.mark.django_db
def test_a_preview_carries_no_tracking_so_looking_at_it_counts_for_nothing(settings):
    """Staff open previews of live campaigns: no open pixel, no signed click, no working unsubscribe in them."""
    settings.MARKETING_BASE_URL = "https://track.example.com"
    popular_products(2)
    person = customers(1)[0]
    campaign = campaign_for(active_segment([person]))

    preview = preview_message(campaign=campaign, variant=campaign.variants.get(), customer=person)

    for body in (preview["body_html"], preview["body_text"]):
        assert "track.example.com" not in body  # neither /m/o/ (open), /m/c/ (click) nor /m/u/ (unsubscribe)
    assert "#unsubscribe" in preview["body_html"]
    assert preview["recommended_skus"] and all(f"/{sku}" in preview["body_html"] for sku in preview["recommended_skus"])


@pytest.mark.django_db
def test_cart_is_known_to_every_template_and_empty_outside_triggers():
    validate_content(subject="x", html_template="{% for p in cart %}{{ p.name }}{% endfor %}", text_template="")
    person = customers(1)[0]
    campaign = campaign_for(active_segment([person]))
    variant = campaign.variants.get()
    variant.text_template = "cart: {{ cart|length }}"
    variant.save()
    preview = preview_message(campaign=campaign, variant=variant, customer=person)
    assert preview["body_text"] == "cart: 0"


@pytest.mark.parametrize(
    "source",
    [
        "{{ customer.first_name }} {{ customer['city'] }} {{ products[0].url }}",
        "{{ customer.items() | list | length }} {{ customer.keys() | list | first }}",  # dict methods stay methods
        "{{ customer.get('email') }} {{ offer.code if offer else '' }}",
        "{% for p in products %}{{ loop.index }}:{{ p.name | upper }}{% endfor %}",
        "{{ customer.frist_name }}",  # unknown key: the same StrictUndefined error
        "{{ customer.__class__ }}",  # unsafe: still refused
        "{{ customer.clear() }}",  # a dict-modifying method: still refused by the immutable sandbox
        "{{ products.append(1) }}",
    ],
)
def test_placeholder_lookup_answers_exactly_as_the_stock_sandbox(source):
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    from marketing.rendering import CampaignSandbox

    context = sample_context(offer={"code": "TEN", "description": "10% off"})

    def outcome(environment):
        try:
            return environment.from_string(source).render(context)
        except Exception as exc:  # noqa: BLE001 - the error itself is compared
            return type(exc), str(exc)

    stock = ImmutableSandboxedEnvironment(autoescape=True, undefined=StrictUndefined)
    ours = CampaignSandbox(autoescape=True, undefined=StrictUndefined)
    assert outcome(ours) == outcome(stock)


def test_open_pixel_goes_before_the_last_body_end_in_any_case():
    from marketing.rendering import with_open_pixel

    tag = '<img src="P" width="1" height="1" alt="" style="display:none">'
    assert with_open_pixel("<body>a</body></html>", "P") == f"<body>a{tag}</body></html>"
    assert with_open_pixel("<BODY>a</BODY>", "P") == f"<BODY>a{tag}</BODY>"
    assert with_open_pixel("<body>a</body><p>b</Body>", "P") == f"<body>a</body><p>b{tag}</Body>"
    assert with_open_pixel("no body", "P") == f"no body{tag}"


@pytest.mark.django_db
def test_a_preview_after_the_build_shows_the_code_the_customer_was_issued():
    from tests.marketing.factories import OfferFactory

    person = customers(1)[0]
    campaign = campaign_for(active_segment([person]), offer=OfferFactory(code_mode=Offer.CodeMode.UNIQUE, code="vip"))
    variant = campaign.variants.get()
    variant.text_template = "code: {{ offer.code }}"
    variant.save()
    before = preview_message(campaign=campaign, variant=variant, customer=person)
    assert before["body_text"] == "code: VIP-XXXXXX"  # nothing issued yet: a placeholder

    build_audience(campaign=campaign, now=NOON)
    issued = campaign.recipients.get(customer=person).coupon_code
    after = preview_message(campaign=campaign, variant=variant, customer=person)
    assert issued.startswith("VIP-") and after["body_text"] == f"code: {issued}"  # not the placeholder any more
