"""The real page in headless Chromium (Debian's chromium + chromium-driver, via Selenium): type a seed, click
Generate, and the image the page shows is the file ``progan generate`` writes for that seed."""

from __future__ import annotations

import os

import pytest

from progan.explore.browser import missing_reason

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser():
    reason = missing_reason()
    if reason is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI must drive the page in Chromium: {reason}")
        pytest.skip(reason)
    from progan.explore.browser import chromium

    with chromium() as driver:
        yield driver


def _generate_on_page(driver, url: str | None, seeds: str) -> None:
    """Open ``url`` (None: stay on the page), type ``seeds`` into the seed box and click Generate."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    if url is not None:
        driver.get(url)
    button = WebDriverWait(driver, 60).until(ec.element_to_be_clickable((By.CSS_SELECTOR, "#generate-btn")))
    box = driver.find_element(By.CSS_SELECTOR, "#seeds textarea, #seeds input")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(seeds)
    button.click()


def _shown_image(driver, name: str) -> bytes:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    from progan.explore.browser import image_bytes

    image = WebDriverWait(driver, 60).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, f"#generate-image img[src*='{name}']")))
    return image_bytes(driver, image)


def test_the_page_shows_what_progan_generate_writes(browser, explore_server, progan_generate) -> None:
    from selenium.webdriver.common.by import By

    _generate_on_page(browser, explore_server.url, "11")
    (reference,) = progan_generate("--seeds", "11")
    assert _shown_image(browser, "seed0011.png") == reference.read_bytes()
    assert not browser.find_elements(By.CSS_SELECTOR, "[data-testid='toast-text']")


def test_an_error_is_shown_on_the_page_and_the_page_goes_on(browser, explore_server, progan_generate) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    _generate_on_page(browser, explore_server.url, "x-1")
    def toast_text(driver) -> str:  # textContent: the toast is found while it still fades in
        return " ".join(e.get_attribute("textContent") or "" for e in
                        driver.find_elements(By.CSS_SELECTOR, "[data-testid='toast-text']")).strip()

    text = WebDriverWait(browser, 60).until(toast_text)
    assert "bad seeds 'x-1'" in text
    _generate_on_page(browser, None, "12")
    (reference,) = progan_generate("--seeds", "12")
    assert _shown_image(browser, "seed0012.png") == reference.read_bytes()
