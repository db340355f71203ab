"""A real headless Chromium for the web UI's tests: Debian's ``chromium`` driven by its
``chromium-driver`` through Selenium (no driver or browser download), and axe-core from npm.

``.ci/run`` installs both Debian packages and npm; axe-core is installed by ``axe_script``
into a cache directory on first use (``npm install``), or taken from
``$DYNOPYPI_AXE_JS``. Screenshots go to ``artifacts_dir()``: ``$DYNOPYPI_TEST_ARTIFACTS``
if set, else a directory under the tests' temporary root (its path is printed).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, cast

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
AXE_VERSION = "4"  # the major version the assertions below are written for
DESKTOP = (1280, 900)
PHONE = (390, 844)  # CSS pixels of a current phone
SERIOUS = ("serious", "critical")
# installed before any page script: records CSP violations and proves which scripts ran
HOOK = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__cspViolations.push(e.violatedDirective + " " + (e.blockedURI || "inline"));
});
"""


def _missing(what: str) -> None:
    pytest.fail(
        f"{what} is missing: install Debian's chromium and chromium-driver "
        "(apt-get install chromium chromium-driver; .ci/run does)"
    )


def start_browser(downloads: Path) -> WebDriver:
    """Headless Chromium at desktop size; downloads land in ``downloads``."""
    if not os.path.exists(CHROMIUM):
        _missing(CHROMIUM)
    if not os.path.exists(CHROMEDRIVER):
        _missing(CHROMEDRIVER)
    options = Options()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        f"--window-size={DESKTOP[0]},{DESKTOP[1]}",
    ):
        options.add_argument(argument)
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(60)
    driver.execute_cdp_cmd(
        "Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": HOOK})
    return driver


def set_javascript(driver: WebDriver, enabled: bool) -> None:
    driver.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": not enabled})


def set_dark(driver: WebDriver, dark: bool) -> None:
    feature = {"name": "prefers-color-scheme", "value": "dark" if dark else "light"}
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [feature]})


def set_width(driver: WebDriver, size: tuple[int, int]) -> None:
    """The viewport's CSS size (as a phone of that size would have it)."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": size != DESKTOP},
    )


def artifacts_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("DYNOPYPI_TEST_ARTIFACTS")
    where = Path(given) / "screenshots" if given else tmp_path_factory.mktemp("screenshots")
    where.mkdir(parents=True, exist_ok=True)
    print(f"\nbrowser screenshots: {where}")
    return where


def axe_script(cache: Path) -> str:
    """axe.min.js: ``$DYNOPYPI_AXE_JS``, else npm's axe-core installed once into ``cache``."""
    given = os.environ.get("DYNOPYPI_AXE_JS")
    if given:
        return Path(given).read_text(encoding="utf-8")
    script = cache / "node_modules" / "axe-core" / "axe.min.js"
    if not script.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("npm is missing: install Debian's npm (.ci/run does) for axe-core")
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [npm, "install", "--prefix", str(cache), "--no-audit", "--no-fund",
             "--no-save", f"axe-core@{AXE_VERSION}"],
            check=True, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    return script.read_text(encoding="utf-8")


def axe_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dynopypi-tests" / "axe-core"


def serious_violations(driver: WebDriver, axe: str) -> list[str]:
    """axe-core's serious and critical violations on the current page, one line each."""
    driver.execute_script(axe)
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']})"
        ".then(r => done(r.violations)).catch(e => done([{id: 'axe-error', impact:"
        " 'critical', help: String(e), nodes: []}]));"
    )
    violations = cast(list[dict[str, Any]], result)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(str(n.get("target")) for n in v.get("nodes", [])[:5])
        for v in violations
        if v.get("impact") in SERIOUS
    ]
