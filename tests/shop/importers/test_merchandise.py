"""The rules that tell postage, fees, discounts and adjustments from goods (no database)."""

import pytest

from shop.importers.merchandise import is_merchandise


@pytest.mark.parametrize(
    ("stock_code", "description"),
    [
        ("POST", "POSTAGE"),
        ("DOT", "DOTCOM POSTAGE"),
        ("C2", "CARRIAGE"),
        ("M", "Manual"),
        ("m", "Manual"),
        ("BANK CHARGES", "Bank Charges"),
        ("AMAZONFEE", "AMAZON FEE"),
        ("CRUK", "CRUK Commission"),
        ("D", "Discount"),
        ("S", "SAMPLES"),
        ("PADS", "PADS TO MATCH ALL CUSHIONS"),
        ("B", "Adjust bad debt"),
        ("gift_0001_20", "Dotcomgiftshop Gift Voucher £20.00"),
    ],
)
def test_the_service_codes_of_the_sample_file_are_not_merchandise(stock_code, description):
    assert not is_merchandise(stock_code=stock_code, description=description)


@pytest.mark.parametrize(
    ("stock_code", "description"),
    [
        # Codes that are not in the UCI file but follow the same conventions.
        ("ADJUST2", "Adjustment by john on 26/01/2010"),
        ("TEST001", "This is a test product."),
        ("C3", ""),
        ("PAYPALFEE", ""),
        ("gift_0001_60", ""),
        # Numeric stock codes used for non-goods lines, recognised by their description.
        ("23444", "Next Day Carriage"),
        ("22016", "Dotcomgiftshop Gift Voucher £100.00"),
        ("21360", "Show Samples"),
        ("99999", "ebay fees"),
        ("12345", "Staff discount"),
        ("55555", "bad debt written off"),
        ("77777", "TEST"),
    ],
)
def test_codes_never_seen_are_caught_by_the_rules(stock_code, description):
    assert not is_merchandise(stock_code=stock_code, description=description)


@pytest.mark.parametrize(
    ("stock_code", "description"),
    [
        ("85123A", "WHITE HANGING HEART T-LIGHT HOLDER"),
        ("23099", "FRENCH CARRIAGE LANTERN"),
        ("85168B", "BLACK BAROQUE CARRIAGE CLOCK"),
        ("37370", "RETRO COFFEE MUGS ASSORTED"),
        ("22423", "REGENCY CAKESTAND 3 TIER"),
        ("DCGSSGIRL", "GIRLS PARTY BAG"),
        ("DCGS0003", "BOXED GLASS ASHTRAY"),
        ("22961", "JAM MAKING SET PRINTED"),
        ("84879", "ASSORTED COLOUR BIRD ORNAMENT"),
        ("21731", ""),
    ],
)
def test_goods_stay_merchandise(stock_code, description):
    assert is_merchandise(stock_code=stock_code, description=description)
