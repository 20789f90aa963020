"""Browser tests: Playwright driving the machine's Chromium against pytest-django's live server.

Every page a test opens is checked by `page.audit(name)`: it waits for the page to settle, saves a full-page
screenshot under the test's temporary folder and runs axe-core (the pinned npm package) on it, failing on serious
or critical accessibility violations. A page the test navigated to but never checked fails the test, and so do
console errors, uncaught page errors, failed requests, 4xx/5xx answers and requests leaving this machine.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

CHROMIUM = Path("/usr/bin/chromium")
AXE = Path(settings.BASE_DIR) / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING_IMPACTS = ("serious", "critical")
# Playwright's sync API runs an event loop in this thread; the ORM calls in fixtures are still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

LOCAL = ("http://localhost", "http://127.0.0.1", "data:", "blob:", "about:")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.fail("browser tests need Chromium at /usr/bin/chromium (make test installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


def accessibility_violations(page, *, exclude: tuple[str, ...] = ()) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now, one line each with where they are;
    `exclude`: CSS selectors of parts not checked."""
    if not AXE.exists():
        pytest.fail(f"axe-core is missing at {AXE}: run `npm ci` (make assets) first")
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    violations = page.evaluate(
        """async (exclude) => {
            const context = exclude.length ? {exclude: exclude.map(s => [s])} : document;
            const result = await axe.run(context, {resultTypes: ["violations"]});
            return result.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 5).map(n => n.target.join(" ") + (n.failureSummary ? " — " +
                    n.failureSummary.split("\\n").slice(1, 2).join("").trim() : "")),
            }));
        }""",
        list(exclude),
    )
    return [
        f"{v['impact']} {v['id']} ({v['help']}): " + "; ".join(v["nodes"])
        for v in violations
        if v["impact"] in BLOCKING_IMPACTS
    ]


def _without_fragment(url: str) -> str:
    return url.split("#", 1)[0]


class PageWatch:
    """What happened on one page (tab) during a test: problems, pages navigated to, pages checked."""

    def __init__(self, page, folder: Path):
        self.page = page
        self.folder = folder
        self.problems: list[str] = []
        self.outside: list[str] = []
        self.navigated: list[str] = []
        self.checked: set[str] = set()
        self.shots: list[Path] = []
        page.on("console", lambda m: self.problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on("requestfailed", self._failed)
        page.on("response", lambda r: self.problems.append(f"{r.status}: {r.url}") if r.status >= 400 else None)
        page.on("request", lambda r: None if r.url.startswith(LOCAL) else self.outside.append(r.url))
        page.on(
            "framenavigated",
            lambda frame: (
                self.navigated.append(_without_fragment(frame.url))
                if frame == page.main_frame and not frame.url.startswith("about:")
                else None
            ),
        )

    def _failed(self, request) -> None:
        # The browser cancels what is in flight when the page is left (the shop client's event batch, a poll):
        # not a failure, the client keeps unacknowledged events and resends them from the next page.
        if request.failure == "net::ERR_ABORTED" and request.resource_type in ("fetch", "xhr", "ping", "beacon"):
            return
        self.problems.append(f"failed: {request.url} {request.failure}")

    def audit(self, name: str, *, exclude: tuple[str, ...] = ()) -> Path:
        """Settle, screenshot (saved as <name>.png in the test's folder) and run the accessibility check."""
        if not re.fullmatch(r"[\w.-]+", name):
            raise ValueError(f"screenshot name {name!r}: use letters, digits, '-', '_' or '.'")
        self.page.wait_for_load_state("networkidle")
        shot = self.folder / f"{name}.png"
        self.page.screenshot(path=str(shot), full_page=True)
        self.shots.append(shot)
        violations = accessibility_violations(self.page, exclude=exclude)
        assert not violations, f"{self.page.url}: accessibility violations:\n" + "\n".join(violations)
        self.checked.add(_without_fragment(self.page.url))
        return shot

    def verify(self) -> None:
        assert not self.outside, f"page requested outside resources: {self.outside[:5]}"
        assert not self.problems, "console errors or failed requests:\n" + "\n".join(self.problems)
        unchecked = [url for url in dict.fromkeys(self.navigated) if url not in self.checked]
        assert not unchecked, f"pages opened but never checked (call page.audit(name) on each): {unchecked}"
        for shot in self.shots:
            assert shot.stat().st_size > 5_000, f"{shot} looks empty"


def _open_page(browser, request, folder: Path, *, locale: str):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale=locale)
    page = context.new_page()
    watch = PageWatch(page, folder)
    page.audit = watch.audit
    page.watch = watch
    return context, page, watch


def _close(request, context, watch: PageWatch) -> None:
    try:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.passed:
            watch.verify()
    finally:
        context.close()


@pytest.fixture
def page(browser, request, tmp_path):
    """An English-speaking browser tab."""
    context, page, watch = _open_page(browser, request, tmp_path, locale="en-US")
    yield page
    _close(request, context, watch)


@pytest.fixture
def zh_page(browser, request, tmp_path):
    """A tab whose browser asks for Simplified Chinese (Accept-Language: zh-CN)."""
    fonts = (
        subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True).stdout
        if shutil.which("fc-list")
        else ""
    )
    if not fonts.strip():
        pytest.fail("no Chinese font: screenshots would show empty boxes (make e2e-deps installs fonts-wqy-microhei)")
    context, page, watch = _open_page(browser, request, tmp_path, locale="zh-CN")
    yield page
    _close(request, context, watch)


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_superuser("staff", "staff@example.com", "staff-password")


def log_in(page, live_server) -> None:
    page.goto(f"{live_server.url}/admin/login/")
    page.audit("login")
    page.fill("#id_username", "staff")
    page.fill("#id_password", "staff-password")
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")
    page.audit("admin-index")


@pytest.fixture
def logged_in_page(page, live_server, staff_user):
    log_in(page, live_server)
    return page


@pytest.fixture
def logged_in_zh_page(zh_page, live_server, staff_user):
    log_in(zh_page, live_server)
    return zh_page
