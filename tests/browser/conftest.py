"""Real-browser tests: Playwright for Python driving Debian's Chromium (no browser downloads).

Skipped, with the reason in the summary, when Playwright or Chromium is missing (`apt-get install chromium`;
.ci/run installs it). SHANZHI_CHROMIUM names another Chromium binary.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path(os.environ.get("SHANZHI_CHROMIUM", "/usr/bin/chromium"))
DEMO_PASSWORD = "shanzhi-demo"
PHONE_OF_HOUSEHOLD_1 = "13800000001"
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"  # git-ignored
PHONE = {"width": 360, "height": 740}
DESK = {"width": 1280, "height": 860}


def why_not() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "browser tests skipped: Playwright for Python is not installed (pip install -e '.[test]')"
    if not CHROMIUM.exists():
        return f"browser tests skipped: no Chromium at {CHROMIUM} (apt-get install chromium)"
    return None


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One headless Chromium per test module. Not per session: Playwright's sync API runs an event loop while it
    is open, and later tests that start their own (asyncio.run) must not find one running."""
    reason = why_not()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield browser
        browser.close()


def shoot(page: Any, name: str) -> None:
    """A screenshot of the page at phone and at desk width, kept as a test artifact."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    for label, viewport in (("phone", PHONE), ("desk", DESK)):
        page.set_viewport_size(viewport)
        page.screenshot(path=str(SHOTS / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size(size)


# What a page must pass: no sideways scrolling, a label for each control, 44 px targets, AA contrast.
AUDIT = """() => {
  const problems = [];
  if (document.documentElement.scrollWidth > window.innerWidth + 1) {
    problems.push(`scrolls sideways: ${document.documentElement.scrollWidth} > ${window.innerWidth}`);
  }
  for (const e of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
    if (!(e.labels && e.labels.length) && !e.getAttribute('aria-label')) problems.push(`no label: ${e.name || e.id}`);
  }
  const shown = e => e.offsetParent !== null && getComputedStyle(e).visibility !== 'hidden';
  for (const e of document.querySelectorAll('button, a.button, input[type=submit], input[type=checkbox]')) {
    const r = e.getBoundingClientRect();
    if (shown(e) && (r.height < 44 && !(e.type === 'checkbox' && r.height >= 28))) {
      problems.push(`small target (${Math.round(r.height)} px): ${e.textContent.trim().slice(0, 30) || e.name}`);
    }
  }
  const rgb = s => (s.match(/[\\d.]+/g) || []).map(Number);
  const linear = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  const lum = ([r, g, b]) => [r, g, b].map(linear).reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  const background = e => {
    for (; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0.9)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const e = n.parentElement;
    if (!n.textContent.trim() || seen.has(e) || !shown(e)) continue;
    seen.add(e);
    const style = getComputedStyle(e);
    const [a, b] = [lum(rgb(style.color).slice(0, 3)), lum(background(e))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const size = parseFloat(style.fontSize), bold = parseInt(style.fontWeight, 10) >= 700;
    const needed = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    if (ratio < needed) problems.push(`contrast ${ratio.toFixed(2)} < ${needed}: ${n.textContent.trim().slice(0, 30)}`);
  }
  return problems;
}"""


def audit(page: Any) -> list[str]:
    """Accessibility problems a user would meet on this page, at its current width (empty when none)."""
    return [f"{page.url}: {problem}" for problem in page.evaluate(AUDIT)]


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def sign_in_staff(page: Any, base: str, username: str) -> None:
    """Sign in on the sign-in page as a demo official or partner's staff, by password."""
    page.goto(f"{base}/signin")
    page.locator("details.staff summary").click()
    page.locator("#username").fill(username)
    page.locator("#password").fill(DEMO_PASSWORD)
    page.locator("form[action='/signin/password'] button[type=submit]").click()
    expect(page).not_to_have_url(re.compile(r"/signin"))


def sign_in_villager(page: Any, phone: str) -> None:
    """On the sign-in page (shown first by any villager page): phone, then the code the demo shows."""
    page.locator("#phone").fill(phone)
    page.locator("form[action='/signin/phone'] button[type=submit]").click()
    page.locator("#code").fill(page.locator(".dev-code").inner_text())
    page.locator("form[action='/signin/code'] button[type=submit]").click()
    expect(page).not_to_have_url(re.compile(r"/signin"))
