"""import_product_feed: Merchant Center feeds in RSS 2.0, Atom and TSV, with the importers' bad-row rules."""

import gzip
import json
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from shop.models import Product

pytestmark = pytest.mark.django_db

RSS = """<?xml version="1.0"?>
<rss xmlns:g="http://base.google.com/ns/1.0" version="2.0">
<channel>
<title>Example - Online Store</title>
<link>https://www.example.com</link>
<description>This is a sample feed containing the required and recommended attributes</description>
<item>
<g:id>TV_123456</g:id>
<g:title>LG 22LB4510 - 22" LED TV - 1080p (FullHD)</g:title>
<g:description>Attractively styled, the LG 22LB4510 - 22&quot; LED TV</g:description>
<g:link>https://www.example.com/electronics/tv/22LB4510.html</g:link>
<g:image_link>https://images.example.com/TV_123456.png</g:image_link>
<g:condition>used</g:condition>
<g:availability>in_stock</g:availability>
<g:price>159.00 USD</g:price>
<g:shipping>
<g:country>US</g:country>
<g:service>Standard</g:service>
<g:price>14.95 USD</g:price>
</g:shipping>
<g:gtin>71919219405200</g:gtin>
<g:brand>LG</g:brand>
<g:mpn>22LB4510/US</g:mpn>
<g:google_product_category>Electronics &gt; Video &gt; Televisions</g:google_product_category>
<g:product_type>Consumer Electronics &gt; TVs &gt; Flat Panel TVs</g:product_type>
</item>
<item>
<g:id>DRESS_1-RED-S</g:id>
<title>Red summer dress, small</title>
<link>https://www.example.com/clothing/dress-1</link>
<description>Light cotton dress</description>
<g:image_link>https://images.example.com/DRESS_1.png</g:image_link>
<g:availability>out_of_stock</g:availability>
<g:price>49.90 EUR</g:price>
<g:sale_price>39.90 EUR</g:sale_price>
<g:item_group_id>DRESS_1</g:item_group_id>
<g:google_product_category>Apparel &amp; Accessories &gt; Clothing &gt; Dresses</g:google_product_category>
</item>
<item>
<g:id>BAD_PRICE</g:id>
<g:title>Mystery</g:title>
<g:price>about ten dollars</g:price>
</item>
<item>
<g:title>No id at all</g:title>
<g:price>5.00 USD</g:price>
</item>
</channel>
</rss>
"""

ATOM = """<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:g="http://base.google.com/ns/1.0">
<title>Example - Online Store</title>
<link rel="self" href="https://www.example.com"/>
<updated>2026-11-01T00:00:00Z</updated>
<entry>
<g:id>TV_123456</g:id>
<title>LG 22LB4510 TV</title>
<link href="https://www.example.com/electronics/tv/22LB4510.html"/>
<summary>A 22 inch TV</summary>
<g:image_link>https://images.example.com/TV_123456.png</g:image_link>
<g:price>159.00 USD</g:price>
<g:product_type>TVs</g:product_type>
</entry>
</feed>
"""

TSV = (
    "id\ttitle\tdescription\tlink\timage link\tprice\tsale price\tavailability\tbrand\tproduct type\titem group id\n"
    "SHOE-1\tRunner\tA running shoe\thttps://e.x/shoe-1\thttps://img.e.x/shoe-1.jpg\t89.99 GBP\t\tin stock\tAcme\t"
    "Shoes > Running\tSHOE\n"
    "SHOE-2\tTrail\tA trail shoe\thttps://e.x/shoe-2\thttps://img.e.x/shoe-2.jpg\t-5 GBP\t\tin stock\tAcme\t"
    "Shoes > Trail\tSHOE\n"
    "SHOE-1\tRunner again\t\t\t\t89.99 GBP\t\tin stock\tAcme\t\tSHOE\n"
)


def run(path) -> dict:
    from io import StringIO

    out = StringIO()
    call_command("import_product_feed", str(path), "--json", "--no-progress", stdout=out)
    return json.loads(out.getvalue())


def test_rss_feed_products_with_image_links_and_bad_items_reported(tmp_path):
    path = tmp_path / "feed.xml"
    path.write_text(RSS)
    report = run(path)
    assert (report["rows_read"], report["imported"], report["accounted"]) == (4, 2, True)
    assert report["skipped_by_reason"] == {"bad_price": 1, "missing_sku": 1}
    assert report["skipped_lines"] == {"bad_price": ["item 3"], "missing_sku": ["item 4"]}
    tv = Product.objects.get(sku="TV_123456")
    assert (tv.name, tv.price, tv.currency) == ('LG 22LB4510 - 22" LED TV - 1080p (FullHD)', Decimal("159.00"), "USD")
    assert tv.attributes["image_link"] == "https://images.example.com/TV_123456.png"
    assert tv.attributes["brand"] == "LG"
    # product_type wins over google_product_category as the category; the nested g:shipping price is not the price.
    assert tv.category.name == "Flat Panel TVs" and tv.category.parent.name == "TVs"
    dress = Product.objects.get(sku="DRESS_1-RED-S")
    assert (dress.name, dress.description, dress.stock, dress.currency) == (
        "Red summer dress, small",
        "Light cotton dress",
        0,
        "EUR",
    )
    assert dress.attributes["sale_price"] == "39.90 EUR"
    assert dress.attributes["item_group_id"] == "DRESS_1"
    assert dress.attributes["link"] == "https://www.example.com/clothing/dress-1"
    assert dress.category.name == "Dresses"


def test_reimporting_the_same_feed_changes_nothing(tmp_path):
    path = tmp_path / "feed.xml"
    path.write_text(RSS)
    run(path)
    again = run(path)
    assert again["objects"]["products"] == {"created": 0, "updated": 0}
    assert again["skipped_by_reason"]["unchanged"] == 2


def test_atom_feed(tmp_path):
    path = tmp_path / "feed.xml.gz"
    path.write_bytes(gzip.compress(ATOM.encode()))
    assert run(path)["imported"] == 1
    tv = Product.objects.get(sku="TV_123456")
    assert (tv.name, tv.description, tv.category.name) == ("LG 22LB4510 TV", "A 22 inch TV", "TVs")
    assert tv.attributes["link"] == "https://www.example.com/electronics/tv/22LB4510.html"


def test_tsv_feed_with_the_csv_importers_rules(tmp_path):
    path = tmp_path / "feed.tsv"
    path.write_text(TSV)
    report = run(path)
    assert report["skipped_by_reason"] == {"bad_price": 1, "duplicate_sku": 1}
    assert report["skipped_lines"] == {"bad_price": [3], "duplicate_sku": [4]}
    shoe = Product.objects.get(sku="SHOE-1")
    assert (shoe.price, shoe.currency, shoe.category.name) == (Decimal("89.99"), "GBP", "Running")
    assert shoe.attributes["image_link"] == "https://img.e.x/shoe-1.jpg"


def test_entity_expansion_is_refused(tmp_path):
    path = tmp_path / "bomb.xml"
    path.write_text(
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
        '<rss xmlns:g="http://base.google.com/ns/1.0"><channel><item><g:id>&lol2;</g:id></item></channel></rss>'
    )
    with pytest.raises(CommandError, match="declares entities"):
        run(path)
    assert not Product.objects.exists()


def test_external_entity_is_refused(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    path = tmp_path / "xxe.xml"
    path.write_text(
        f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file://{secret}">]>'
        '<rss xmlns:g="http://base.google.com/ns/1.0"><channel><item><g:id>&xxe;</g:id></item></channel></rss>'
    )
    with pytest.raises(CommandError, match="declares entities"):
        run(path)
    assert not Product.objects.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("<rss><channel><item>", "not well-formed XML"),
        ("<html><body>hello</body></html>", "not an RSS 2.0 or Atom feed"),
        ("<rss><channel></channel></rss>", "the feed has no items"),
        ("title\tprice\nA\t1.00 USD\n", "no id attribute"),
    ],
)
def test_a_file_that_is_not_a_feed_is_one_clear_error(tmp_path, content, message):
    path = tmp_path / "feed.xml"
    path.write_text(content)
    with pytest.raises(CommandError, match=message):
        run(path)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        run(tmp_path / "nope.xml")
