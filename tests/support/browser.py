"""A real headless browser for the `capo view` tests and benchmark: Debian's chromium driven by
selenium through Debian's chromedriver (both installed by scripts/setup-browser.sh, which
scripts/test.sh runs). Nothing is downloaded at test time (selenium-manager is bypassed by giving
it both paths)."""

from __future__ import annotations

import shutil
from pathlib import Path

SETUP = "bash scripts/setup-browser.sh (apt-get install chromium chromium-driver)"


def browser_paths() -> tuple[str, str]:
    """(chromium, chromedriver); RuntimeError naming the install step when either is missing."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not chromium or not driver:
        raise RuntimeError(f"chromium/chromedriver not found on PATH: run {SETUP}")
    return chromium, driver


def headless_chromium(width: int = 1280, height: int = 1000):
    """A selenium Chrome driver on headless chromium that records the page's console."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver = browser_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={width},{height}", "--no-first-run", "--disable-extensions"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


def open_page(driver, path: Path, timeout: float = 60.0) -> None:
    """Load a local page and wait until the viewer says it rendered (body[data-ready])."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(Path(path).resolve().as_uri())
    WebDriverWait(driver, timeout).until(lambda d: d.execute_script("return document.body.dataset.ready === '1'"))


def console_errors(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
