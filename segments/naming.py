"""Generated segment names and descriptions in the reader's language.

The segmentation job stores names and descriptions in English (the API and exports keep them so). They are
built from a fixed vocabulary (segments.ml.profiles.PHRASES, the RFM groups, a few fixed names) and a fixed set
of clause patterns, so the pages translate them when shown: the English text is parsed back into its parts and
each part is looked up in the catalogue below. A name a marketer typed, or text that matches no pattern, is shown
as it was written.
"""

from __future__ import annotations

import re

from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext, pgettext_lazy

# Whole names that are not composed: the RFM groups, the groups every run may have, the fallback name.
FIXED_NAMES = {
    "Champions": pgettext_lazy("segment name", "Champions"),
    "Loyal Customers": pgettext_lazy("segment name", "Loyal Customers"),
    "Potential Loyalists": pgettext_lazy("segment name", "Potential Loyalists"),
    "New Customers": pgettext_lazy("segment name", "New Customers"),
    "Promising": pgettext_lazy("segment name", "Promising"),
    "Need Attention": pgettext_lazy("segment name", "Need Attention"),
    "About to Sleep": pgettext_lazy("segment name", "About to Sleep"),
    "Can't Lose Them": pgettext_lazy("segment name", "Can't Lose Them"),
    "At Risk": pgettext_lazy("segment name", "At Risk"),
    "Hibernating": pgettext_lazy("segment name", "Hibernating"),
    "Lost": pgettext_lazy("segment name", "Lost"),
    "No purchases yet": pgettext_lazy("segment name", "No purchases yet"),
    "Outliers": pgettext_lazy("segment name", "Outliers"),
    "Typical customers": pgettext_lazy("segment name", "Typical customers"),
}

# The "adj:" phrases of segments.ml.profiles.PHRASES.
ADJECTIVES = {
    "Lapsed": pgettext_lazy("segment name adjective", "Lapsed"),
    "Recent": pgettext_lazy("segment name adjective", "Recent"),
    "Long-standing": pgettext_lazy("segment name adjective", "Long-standing"),
    "New": pgettext_lazy("segment name adjective", "New"),
    "Infrequent": pgettext_lazy("segment name adjective", "Infrequent"),
    "Regular": pgettext_lazy("segment name adjective", "Regular"),
    "Quiet": pgettext_lazy("segment name adjective", "Quiet"),
    "Decisive": pgettext_lazy("segment name adjective", "Decisive"),
    "Happy": pgettext_lazy("segment name adjective", "Happy"),
    "Critical": pgettext_lazy("segment name adjective", "Critical"),
    "Older": pgettext_lazy("segment name adjective", "Older"),
    "Younger": pgettext_lazy("segment name adjective", "Younger"),
}

# The "noun:" phrases of segments.ml.profiles.PHRASES.
NOUNS = {
    "frequent buyers": pgettext_lazy("segment name noun", "frequent buyers"),
    "one-off buyers": pgettext_lazy("segment name noun", "one-off buyers"),
    "big spenders": pgettext_lazy("segment name noun", "big spenders"),
    "low spenders": pgettext_lazy("segment name noun", "low spenders"),
    "big-basket shoppers": pgettext_lazy("segment name noun", "big-basket shoppers"),
    "small-basket shoppers": pgettext_lazy("segment name noun", "small-basket shoppers"),
    "serial returners": pgettext_lazy("segment name noun", "serial returners"),
    "heavy browsers": pgettext_lazy("segment name noun", "heavy browsers"),
    "long browsers": pgettext_lazy("segment name noun", "long browsers"),
    "cart fillers": pgettext_lazy("segment name noun", "cart fillers"),
    "bulk buyers": pgettext_lazy("segment name noun", "bulk buyers"),
    "window shoppers": pgettext_lazy("segment name noun", "window shoppers"),
}

# segments.ml.features.FEATURE_LABELS: the features as the profile bars and descriptions name them.
FEATURE_NAMES = {
    "days since last order": _("days since last order"),
    "orders": _("orders"),
    "net spend": _("net spend"),
    "average order value": _("average order value"),
    "days as customer": _("days as customer"),
    "days between orders": _("days between orders"),
    "share of spend returned": _("share of spend returned"),
    "product views": _("product views"),
    "add-to-carts": _("add-to-carts"),
    "items bought": _("items bought"),
    "browsing minutes": _("browsing minutes"),
    "view-to-purchase conversion": _("view-to-purchase conversion"),
    "mean rating given": _("mean rating given"),
    "age": _("age"),
}

# The RFM groups' meanings (segments.ml.rfm.RFM_GROUPS), which start their segments' descriptions.
RFM_MEANINGS = {
    "bought recently, buy often and spend the most": _("bought recently, buy often and spend the most"),
    "buy regularly and spend well; responsive to promotions": _(
        "buy regularly and spend well; responsive to promotions"
    ),
    "recent customers with average frequency": _("recent customers with average frequency"),
    "bought most recently, but not often": _("bought most recently, but not often"),
    "recent shoppers who have not spent much": _("recent shoppers who have not spent much"),
    "above average, but not bought very recently": _("above average, but not bought very recently"),
    "below average; will be lost if not reactivated": _("below average; will be lost if not reactivated"),
    "made big, frequent purchases long ago": _("made big, frequent purchases long ago"),
    "spent and bought often, but long ago": _("spent and bought often, but long ago"),
    "last purchase long ago, few orders, low spend": _("last purchase long ago, few orders, low spend"),
    "lowest recency, frequency and spend": _("lowest recency, frequency and spend"),
}

AVERAGE = "close to the average customer on every feature"
AVERAGE_TRANSLATED = _("close to the average customer on every feature")
NUMBER = r"-?[\d,]+(?:\.\d+)?"
PERCENT = r"-?\d+%"

# (pattern of one English clause of segments.ml.profiles.describe_feature, its translation)
CLAUSES = [
    (
        re.compile(rf"last order (?P<mean>{NUMBER}) days ago \(all customers: (?P<overall>{NUMBER})\)"),
        _("last order %(mean)s days ago (all customers: %(overall)s)"),
    ),
    (re.compile(rf"spend (?P<ratio>{NUMBER})× average"), _("spend %(ratio)s× average")),
    (
        re.compile(rf"average order (?P<mean>{NUMBER}) \((?P<ratio>{NUMBER})× average\)"),
        _("average order %(mean)s (%(ratio)s× average)"),
    ),
    (
        re.compile(rf"(?P<mean>{NUMBER}) orders \(all customers: (?P<overall>{NUMBER})\)"),
        _("%(mean)s orders (all customers: %(overall)s)"),
    ),
    (
        re.compile(rf"customer for (?P<mean>{NUMBER}) days \(all customers: (?P<overall>{NUMBER})\)"),
        _("customer for %(mean)s days (all customers: %(overall)s)"),
    ),
    (
        re.compile(rf"orders every (?P<mean>{NUMBER}) days \(all customers: (?P<overall>{NUMBER})\)"),
        _("orders every %(mean)s days (all customers: %(overall)s)"),
    ),
    (
        re.compile(rf"(?P<share>{PERCENT}) of spend on (?P<category>.+) \(all customers: (?P<overall>{PERCENT})\)"),
        _("%(share)s of spend on %(category)s (all customers: %(overall)s)"),
    ),
    (
        re.compile(rf"rates (?P<mean>{NUMBER})/5 \(all customers: (?P<overall>{NUMBER})\)"),
        _("rates %(mean)s/5 (all customers: %(overall)s)"),
    ),
]
# "<feature label> <mean> (all customers: <overall>)": any other feature.
LABELLED_CLAUSE = re.compile(rf"(?P<label>.+?) (?P<mean>{NUMBER}%?) \(all customers: (?P<overall>{NUMBER}%?)\)")
STATIC_LIST = re.compile(r"uploaded list: (?P<found>\d+) customers \((?P<unknown>\d+) ids not found\)")
NUMBERED = re.compile(r"(?P<base>.+) \((?P<n>\d+)\)")
FANS = re.compile(r"(?P<category>.+) fans")


def _noun(text: str) -> str | None:
    if text in NOUNS:
        return str(NOUNS[text])
    fans = FANS.fullmatch(text)
    if fans:
        return pgettext("segment name noun", "%(category)s fans") % {"category": fans["category"]}
    return None


def _base_name(name: str) -> str | None:
    if name in FIXED_NAMES:
        return str(FIXED_NAMES[name])
    first, _space, rest = name.partition(" ")
    if first in ADJECTIVES and rest:
        adjective = str(ADJECTIVES[first])
        if rest == "customers":
            return pgettext("segment name", "%(adjective)s customers") % {"adjective": adjective}
        noun = _noun(rest)
        if noun is not None:
            return pgettext("segment name", "%(adjective)s %(noun)s") % {"adjective": adjective, "noun": noun}
        return None
    # A name that is only a noun phrase starts with a capital ("Big spenders"); a category keeps its own case.
    lowered = name[:1].lower() + name[1:]
    return str(NOUNS[lowered]) if lowered in NOUNS else _noun(name)


def translate_segment_name(name: str) -> str:
    """A generated segment name in the active language; any other name unchanged."""
    numbered = NUMBERED.fullmatch(name)
    base = _base_name(numbered["base"] if numbered else name)
    if base is None:
        return name
    if numbered:
        return pgettext("segment name", "%(name)s (%(n)s)") % {"name": base, "n": numbered["n"]}
    return base


def _clause(text: str) -> str | None:
    for pattern, translation in CLAUSES:
        match = pattern.fullmatch(text)
        if match:
            return str(translation) % match.groupdict()
    match = LABELLED_CLAUSE.fullmatch(text)
    if match and match["label"] in FEATURE_NAMES:
        return _("%(label)s %(mean)s (all customers: %(overall)s)") % {
            **match.groupdict(),
            "label": FEATURE_NAMES[match["label"]],
        }
    return None


def _generated(text: str) -> str | None:
    """segments.ml.profiles.describe's output: clauses joined by ', ', or the no-difference sentence."""
    if text == AVERAGE:
        return str(AVERAGE_TRANSLATED)
    clauses = [_clause(part) for part in text.split(", ")]
    if any(clause is None for clause in clauses):
        return None
    return pgettext("list separator", ", ").join(clauses)


def translate_segment_description(description: str) -> str:
    """A generated segment description in the active language; any other text unchanged."""
    if description in RFM_MEANINGS:
        return str(RFM_MEANINGS[description])
    static = STATIC_LIST.fullmatch(description)
    if static:
        return _("uploaded list: %(found)s customers (%(unknown)s ids not found)") % static.groupdict()
    for prefix, translation in (
        ("never bought; ", _("never bought; %(rest)s")),
        ("unlike any dense group: ", _("unlike any dense group: %(rest)s")),
    ):
        if description.startswith(prefix):
            rest = _generated(description[len(prefix) :])
            return str(translation) % {"rest": rest} if rest is not None else description
    for meaning, translated in RFM_MEANINGS.items():
        if description.startswith(meaning + "; "):
            rest = _generated(description[len(meaning) + 2 :])
            if rest is not None:
                return _("%(meaning)s; %(rest)s") % {"meaning": translated, "rest": rest}
    return _generated(description) or description


def translate_feature_label(label: str) -> str:
    """A feature's label (segments.ml.features.FEATURE_LABELS) in the active language."""
    if label in FEATURE_NAMES:
        return str(FEATURE_NAMES[label])
    smoothed = re.fullmatch(r"member's share of spend on (?P<category>.+) \(smoothed\)", label)
    if smoothed:
        return _("member's share of spend on %(category)s (smoothed)") % smoothed.groupdict()
    return label


def segment_name(segment) -> str:
    """What the pages show as a segment's name: a marketer's own name as typed, a generated one translated."""
    return segment.name if segment.name_is_custom else translate_segment_name(segment.name)


def segment_description(segment) -> str:
    return translate_segment_description(segment.description)
