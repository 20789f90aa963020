"""Which stock codes are not merchandise: postage, fees, discounts, manual entries, adjustments...

Rules, not a list of the codes seen in one file, so that a new fee or test code is caught too.
Pure Python (no Django), so the rules are unit-tested on their own.
"""

import re

# Service codes: shapes used by shop systems for non-goods lines (POST, DOT, C2, M, D, S, B, PADS, CRUK, AMAZONFEE,
# BANK CHARGES, ADJUST2, TEST001, gift_0001_20...). Real stock codes carry a number (85123A, 22423, DCGS0003).
_SERVICE_CODE = re.compile(
    r"""^(
        [A-Z]{1,4}                                  # short letter-only codes: POST, DOT, M, D, S, B, PADS, CRUK
      | C\d{1,2}                                    # carriage bands: C2, C3
      | POSTAGE | CARRIAGE | DISCOUNT | MANUAL | SAMPLES?
      | (AMAZON|EBAY|BANK|PAYPAL|CARD)[ _-]?(FEE|FEES|CHARGES?|COMMISSION)
      | ADJUST\w* | TEST\w* | GIFT[ _-]?\w* | VOUCHER\w* | FEE\w* | CHARGE\w* | COMMISSION\w*
    )$""",
    re.IGNORECASE | re.VERBOSE,
)

# Descriptions of non-goods lines. Anchored where a word is also found in product names
# (a "CARRIAGE CLOCK" is a product, "Next Day Carriage" is not; "COFFEE" must not match "fee").
_SERVICE_DESCRIPTION = re.compile(
    r"""(
        \bpostage\b
      | \bcarriage(\s+charges?)?\s*$
      | \bfees?\b
      | \bcommission\b
      | \bdiscount\b
      | ^\s*manual\b
      | \b(re-?)?adjust(ment|ed|s)?\b
      | \bbad\s+debt\b
      | \bsamples?\b
      | \bbank\s+charges?\b
      | ^\s*test\b
      | \bgift\s+vouchers?\b | \bvouchers?\b | \bgift\s+cards?\b
    )""",
    re.IGNORECASE | re.VERBOSE,
)


def is_merchandise(*, stock_code: str, description: str = "") -> bool:
    """True for goods a customer buys; False for postage, fees, discounts, adjustments, samples, tests, vouchers."""
    code = (stock_code or "").strip()
    if _SERVICE_CODE.match(code):
        return False
    return not _SERVICE_DESCRIPTION.search(description or "")
