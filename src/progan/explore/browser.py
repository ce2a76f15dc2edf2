"""Driving the explorer's page in headless Chromium, for its tests, its start-up benchmark and the README's
screenshot.

Uses the system's Chromium and chromedriver (Debian: ``apt-get install chromium chromium-driver``) through
Selenium; nothing is downloaded at run time (a driver path given to Selenium skips its Selenium Manager).
"""

from __future__ import annotations

import base64
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["CHROMIUM_FLAGS", "chromium", "image_bytes", "missing_reason"]

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# No sandbox (root in containers), no GPU, and nothing that reaches out to the network on its own.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage")


def missing_reason() -> str | None:
    """Why the page cannot be driven here (None when it can)."""
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not Path(path).is_file():
            return f"{path} not found: apt-get install chromium chromium-driver (missing {package})"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed: pip install -e '.[test]'"
    return None


@contextmanager
def chromium(width: int = 1400, height: int = 1000) -> Iterator[Any]:
    """A headless Chromium WebDriver with a fresh profile folder, closed (and the folder removed) on exit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="progan-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


_FETCH_JS = """
const [src, done] = arguments;
fetch(src).then(r => r.arrayBuffer()).then(buf => {
  let s = ""; const b = new Uint8Array(buf);
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
  done(btoa(s));
}).catch(e => done("error:" + e));
"""


def image_bytes(driver: Any, img: Any) -> bytes:
    """The bytes of the file an ``<img>`` element shows, fetched by the page itself."""
    out = driver.execute_async_script(_FETCH_JS, img.get_attribute("src"))
    if out.startswith("error:"):
        raise RuntimeError(f"the page could not fetch {img.get_attribute('src')}: {out[6:]}")
    return base64.b64decode(out)
