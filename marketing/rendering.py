"""Campaign content rendered in Jinja2's sandbox, from plain data only.

Templates see dicts, lists, strings and numbers — never model objects — so a marketer's template can read a
customer's first name but not walk to the database, the settings or Python internals: the sandbox refuses
`{{ ''.__class__ }}` and the like, and an unknown placeholder is an error rather than a silent blank.

Placeholders:
    customer     external_id, name, first_name, email, city, country
    offer        name, kind, description ("10% off"), value, code, min_basket, valid_until  (None without an offer)
    products     the recipient's recommended products: sku, name, price, currency, image_url, url, reason
    cross_sell   products often bought with their last purchase (same keys)
    campaign     name
    cart         a triggered campaign's products (the abandoned cart, the browsed products; empty otherwise)
    unsubscribe_url, open_pixel_url (HTML only; added by the renderer when absent from the template)
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from decimal import Decimal
from functools import cache

from django.core.exceptions import ValidationError
from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

TEMPLATE_FIELDS = ("subject", "html_template", "text_template")
FIELD_LABELS = {"subject": "subject", "html_template": "HTML template", "text_template": "text template"}

DEFAULT_SUBJECT = "{{ customer.first_name or 'Hello' }}, picked for you"
DEFAULT_HTML = """<html><body style="font-family: sans-serif">
<p>Hello {{ customer.first_name or 'there' }},</p>
{% if offer %}<p><strong>{{ offer.description }}</strong>{% if offer.code %} with the code
<strong>{{ offer.code }}</strong>{% endif %}.</p>{% endif %}
<table>{% for p in products %}
<tr><td><a href="{{ p.url }}"><img src="{{ p.image_url }}" alt="{{ p.name }}" width="120"></a></td>
<td><a href="{{ p.url }}">{{ p.name }}</a><br>{{ p.price }} {{ p.currency }}</td></tr>{% endfor %}
</table>
{% if cross_sell %}<p>Goes well with your last order:</p><ul>{% for p in cross_sell %}
<li><a href="{{ p.url }}">{{ p.name }}</a> {{ p.price }} {{ p.currency }}</li>{% endfor %}</ul>{% endif %}
<p style="font-size: small"><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>
</body></html>"""
DEFAULT_TEXT = """Hello {{ customer.first_name or 'there' }},
{% if offer %}
{{ offer.description }}{% if offer.code %} with the code {{ offer.code }}{% endif %}.
{% endif %}
{% for p in products %}- {{ p.name }} ({{ p.price }} {{ p.currency }}): {{ p.url }}
{% endfor %}
Unsubscribe: {{ unsubscribe_url }}
"""


# What a plain dict answers to as an attribute; any other name in a template (`p.url`) reads the dict's key.
_DICT_ATTRIBUTES = frozenset(dir(dict))


class CampaignSandbox(ImmutableSandboxedEnvironment):
    """Jinja2's immutable sandbox, reading placeholders from plain dicts without an exception per lookup.

    The sandbox's own `getattr` tries the Python attribute first and reads the key only after an
    AttributeError; a dict has no attribute by any name outside `dir(dict)`, so reading the key at once
    gives the same value, while every other lookup (dict methods, lists, strings, unknown keys, unsafe
    names) still goes through the sandbox's checks.
    """

    def getattr(self, obj, attribute):
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)


@cache
def _environment(*, html: bool) -> CampaignSandbox:
    return CampaignSandbox(autoescape=html, undefined=StrictUndefined, trim_blocks=False, keep_trailing_newline=True)


class TemplateProblem(ValueError):
    """A template that does not parse or render; the message names the part, the line and the problem."""

    def __init__(self, field: str, line: int | None, problem: str):
        self.field, self.line, self.problem = field, line, problem
        where = FIELD_LABELS.get(field, field) + (f", line {line}" if line else "")
        super().__init__(f"{where}: {problem}")


def _line_of(exc: BaseException) -> int | None:
    lineno = getattr(exc, "lineno", None)
    if lineno:
        return lineno
    # Runtime errors: Jinja rewrites the traceback so template frames carry the template's own line numbers.
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == "<template>"]
    return frames[-1].lineno if frames else None


def _problem(exc: BaseException) -> str:
    if isinstance(exc, SecurityError):
        return f"not allowed in a campaign template ({exc})"
    message = getattr(exc, "message", None) or str(exc)
    return message


@dataclass(frozen=True)
class CompiledContent:
    """A variant's three templates, compiled once for a whole audience."""

    subject: object
    html: object
    text: object

    def render(self, context: dict) -> tuple[str, str, str]:
        """(subject, html, text) for one recipient; TemplateProblem when a template fails at render time."""
        out = []
        for field, template in (("subject", self.subject), ("html_template", self.html), ("text_template", self.text)):
            try:
                out.append(template.render(context))
            except (TemplateError, SecurityError, TypeError, ValueError, ArithmeticError, LookupError) as exc:
                raise TemplateProblem(field, _line_of(exc), _problem(exc)) from exc
        subject, html, text = out
        # A subject is one header line: no newlines (header injection), no surrounding space.
        return " ".join(subject.split())[:300], html, text


def _compile(field: str, source: str):
    env = _environment(html=field == "html_template")
    try:
        return env.from_string(source)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(field, exc.lineno, exc.message or str(exc)) from exc


def compile_content(*, subject: str, html_template: str, text_template: str) -> CompiledContent:
    """Compile a variant's templates (blank ones get the defaults); TemplateProblem on a syntax error."""
    return CompiledContent(
        subject=_compile("subject", subject or DEFAULT_SUBJECT),
        html=_compile("html_template", html_template or DEFAULT_HTML),
        text=_compile("text_template", text_template or DEFAULT_TEXT),
    )


def _sample_product(i: int) -> dict:
    return {
        "sku": f"SKU-{i}",
        "name": f"Sample product {i}",
        "price": "19.90",
        "currency": "EUR",
        "image_url": f"https://shop.example.com/images/SKU-{i}.jpg",
        "url": f"https://shop.example.com/products/SKU-{i}",
        "reason": "recommended for you",
    }


def sample_context(*, campaign_name: str = "Campaign", offer: dict | None = None, products: int = 4) -> dict:
    """Every placeholder with plausible values: what templates are checked against when saved."""
    return {
        "customer": {
            "external_id": "C-1",
            "name": "Ada Lovelace",
            "first_name": "Ada",
            "email": "ada@example.com",
            "city": "London",
            "country": "United Kingdom",
        },
        "offer": offer,
        "products": [_sample_product(i) for i in range(1, max(products, 1) + 1)],
        "cross_sell": [_sample_product(i) for i in range(101, 103)],
        "campaign": {"name": campaign_name},
        "cart": [_sample_product(i) for i in range(201, 203)],
        "unsubscribe_url": "https://shop.example.com/unsubscribe",
        "open_pixel_url": "https://shop.example.com/open.gif",
    }


def validate_content(
    *, subject: str, html_template: str, text_template: str, offer: dict | None = None, products: int = 4
) -> None:
    """Raise a ValidationError keyed by field, naming the line and the problem, for any template that does not
    parse or does not render against the sample placeholders (unknown names, unsafe constructs)."""
    errors: dict[str, str] = {}
    sources = {"subject": subject, "html_template": html_template, "text_template": text_template}
    compiled = {}
    for field, source in sources.items():
        try:
            compiled[field] = _compile(field, source or _default(field))
        except TemplateProblem as problem:
            errors[field] = str(problem)
    context = sample_context(offer=offer, products=products)
    for field, template in compiled.items():
        try:
            template.render(context)
        except (TemplateError, SecurityError, TypeError, ValueError, ArithmeticError, LookupError) as exc:
            errors[field] = str(TemplateProblem(field, _line_of(exc), _problem(exc)))
    if errors:
        raise ValidationError(errors)


def _default(field: str) -> str:
    return {"subject": DEFAULT_SUBJECT, "html_template": DEFAULT_HTML, "text_template": DEFAULT_TEXT}[field]


def offer_context(offer) -> dict | None:
    """The offer as template data (code filled per recipient)."""
    if offer is None:
        return None
    value = Decimal(offer.value)
    kind = offer.kind
    if kind == "percent":
        description = f"{value.normalize():f}% off"
    elif kind == "fixed":
        description = f"{value:.2f} {offer.currency} off"
    elif kind == "free_shipping":
        description = "Free shipping"
    else:
        description = f"The bundle for {value:.2f} {offer.currency}"
    if offer.min_basket:
        description += f" on orders over {offer.min_basket:.2f} {offer.currency}"
    return {
        "name": offer.name,
        "kind": kind,
        "description": description,
        "value": str(value),
        "code": offer.code if offer.code_mode == "shared" else "",
        "min_basket": str(offer.min_basket) if offer.min_basket is not None else "",
        "valid_until": offer.valid_until.strftime("%Y-%m-%d") if offer.valid_until else "",
    }


def with_open_pixel(html: str, pixel_url: str) -> str:
    """The HTML with a 1x1 open-tracking image before </body> (or at the end)."""
    tag = f'<img src="{pixel_url}" width="1" height="1" alt="" style="display:none">'
    # The last </body> in any case, lowercasing only what follows the last lowercase one (not the whole message).
    index = html.rfind("</body>")
    after = index + 1 if index >= 0 else 0
    later = html[after:].lower().rfind("</body>")
    if later >= 0:
        index = after + later
    return html[:index] + tag + html[index:] if index >= 0 else html + tag
