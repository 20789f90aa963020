"""The same pages in Simplified Chinese: a browser asking for zh-CN gets the staff site, the campaign reports,
the admin and the demo storefront in Chinese (generated segment names too), and the header's switch changes the
language of an English browser. Every page is screenshotted and passes the accessibility check (see conftest)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from recommender.serving import engine
from tests.factories import CategoryFactory, CustomerFactory, ProductFactory, PurchaseFactory
from tests.staff.data import build_shop

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def shop(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.RECOMMENDER_LOG_SERVED = False
    return build_shop()


def _open(page, url: str, name: str) -> str:
    page.goto(url)
    page.audit(name)
    assert page.get_attribute("html", "lang") == "zh-hans", url
    return page.inner_text("body")


def test_a_marketer_reads_the_staff_site_in_chinese(logged_in_zh_page, live_server, shop):
    page = logged_in_zh_page
    base = live_server.url
    assert "员工仪表盘" in page.inner_text("#header")  # the admin's header link, after logging in

    page.click("a.staff-link")
    page.wait_for_url(f"{base}/staff/")
    page.audit("zh-dashboard")
    assert page.locator("h1").inner_text() == "仪表盘"
    assert "当前分群方案" in page.inner_text("#content-main")
    assert "冠军客户" in page.inner_text("#content-main")  # the RFM segment "Champions"

    expected = {
        "zh-segmentations": (reverse("staff:segmentations"), "分群方案"),
        "zh-segments-rfm": (reverse("staff:segmentation-run", args=[shop["rfm_run"].pk]), "近度 × 频次与消费网格"),
        "zh-customer": (reverse("staff:customer", args=["s0"]), "与平均客户相比的活跃度"),
        "zh-models": (reverse("staff:models"), "服务模型的历史"),
        "zh-jobs": (reverse("staff:jobs"), "进度每 2 秒刷新一次。"),
        "zh-schedules": (reverse("staff:schedules"), "本产品的任务"),
        "zh-schedule-new": (reverse("staff:schedule-new"), "频率"),
    }
    for name, (path, text) in expected.items():
        body = _open(page, f"{base}{path}", name)
        assert text in body, (path, text)

    rfm = _open(page, f"{base}{reverse('staff:segmentation-run', args=[shop['rfm_run'].pk])}", "zh-segments-rfm-2")
    assert "冠军客户" in rfm and "有流失风险" in rfm and "已流失" in rfm  # Champions, At Risk, Lost

    _open(page, f"{base}{reverse('marketing-reports:list')}", "zh-reports")
    report = _open(page, f"{base}{reverse('marketing-reports:detail', args=[shop['campaign'].pk])}", "zh-report")
    assert "Spring sale" in report  # a campaign's own name stays as typed

    admin = _open(page, f"{base}{reverse('admin:segments_segmentationrun_changelist')}", "zh-admin-runs")
    assert "首页" in admin  # Django's own catalogue: the breadcrumbs' "Home"


def test_the_switch_turns_an_english_browser_chinese(logged_in_page, live_server, shop):
    page = logged_in_page
    page.goto(f"{live_server.url}{reverse('staff:dashboard')}")
    page.audit("en-dashboard")
    assert page.locator("h1").inner_text() == "Dashboard"

    page.select_option("#language-switch-select", "zh-hans")
    page.click(".language-switch button")
    page.wait_for_function("document.documentElement.lang === 'zh-hans'")
    page.audit("switched-dashboard")
    assert page.locator("h1").inner_text() == "仪表盘"
    assert page.url == f"{live_server.url}{reverse('staff:dashboard')}"  # back where the switch was used

    page.goto(f"{live_server.url}{reverse('staff:models')}")
    page.audit("switched-models")
    assert "服务模型的历史" in page.inner_text("#content-main")  # the choice holds on the next page


@pytest.fixture
def storefront(settings):
    settings.DEMO_STOREFRONT = True
    books = CategoryFactory(code="books", name="Books")
    products = [
        ProductFactory(sku=f"P{i}", name=f"Product {i}", category=books, price=Decimal("10.00")) for i in range(1, 6)
    ]
    for rank, product in enumerate(products):
        for buyer in range(len(products) - rank):
            PurchaseFactory(customer=CustomerFactory(external_id=f"buyer-{buyer}"), product=product)
    CustomerFactory(external_id="shopper")
    engine.reset()
    yield products
    engine.reset()


def test_a_shopper_buys_on_the_chinese_storefront(zh_page, live_server, storefront):
    page = zh_page
    base = live_server.url
    index = _open(page, f"{base}/shop/?as=shopper", "zh-storefront-index")
    assert "全部商品" in index and "演示商店" in index
    try:
        page.wait_for_selector("#recommendations .shop-rec", timeout=15000)
    except PlaywrightTimeout:
        pytest.fail(f"the recommendations widget stayed empty; page problems: {page.watch.problems}")
    assert page.inner_text("#recommendations h2") == "为您推荐"

    category = _open(page, f"{base}/shop/c/Books/", "zh-storefront-category")
    assert "本品类推荐" not in category  # an aria-label, not shown text
    assert page.get_attribute("#recommendations", "aria-label") == "本品类推荐"

    _open(page, f"{base}/shop/p/P2/", "zh-storefront-product")
    assert page.inner_text("#add-to-cart button") == "加入购物车"
    page.click("#add-to-cart button")
    page.wait_for_url(f"{base}/shop/cart/")
    page.audit("zh-storefront-cart")
    assert "您的购物车" in page.inner_text("main")
    page.click("#checkout button")
    page.wait_for_selector("#purchase-status:has-text('购买信息已发送。')", timeout=15000)
    page.audit("zh-storefront-confirmation")
    assert "感谢您的订购" in page.inner_text("main")
