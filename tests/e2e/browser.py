"""A real browser for the console's tests: Debian's chromium driven by Playwright, with what
every page visit checks (no CSP violation, no console error, axe-core's serious and critical
rules) and a screenshot of every page."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page

AXE = Path(__file__).parent / "console" / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS_ENV = "SUPPORTES_CONSOLE_SCREENSHOTS"
"""Where the screenshots go (default: the test's temporary directory); the README's come from
``SUPPORTES_CONSOLE_SCREENSHOTS=docs/console pytest tests/e2e/test_console.py``."""

RECORD_CSP = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__csp.push(e.violatedDirective + ' blocked ' + e.blockedURI);
});
"""

AXE_SERIOUS = """
async () => {
  const result = await axe.run(document, { resultTypes: ['violations'] });
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({ id: v.id, impact: v.impact, help: v.help,
                   targets: v.nodes.slice(0, 5).map((n) => n.target.join(' ')) }));
}
"""


@dataclass
class Visits:
    """What the browser saw across a test: console errors, CSP violations, pages checked."""

    console_errors: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        """Keep every error the page logged (a CSP refusal is one)."""
        if message.type == "error":
            self.console_errors.append(message.text)


def screenshot_dir(fallback: Path) -> Path:
    """The screenshot directory (created)."""
    chosen = Path(os.environ.get(SCREENSHOTS_ENV) or fallback)
    chosen.mkdir(parents=True, exist_ok=True)
    return chosen


@contextlib.contextmanager
def browsing(browser: Browser, base_url: str) -> Iterator[tuple[BrowserContext, Page, Visits]]:
    """A fresh browser context (no cookies) and page recording console errors and CSP
    violations."""
    context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 900})
    context.add_init_script(RECORD_CSP)
    page = context.new_page()
    visits = Visits()
    page.on("console", visits.on_console)
    try:
        yield context, page, visits
    finally:
        context.close()


def check_page(page: Page, visits: Visits, name: str, shots: Path) -> None:
    """The page as it stands: a screenshot, no CSP violation or console error so far, and no
    serious or critical accessibility violation (axe-core, injected through the DevTools
    protocol, which the page's CSP does not govern)."""
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    violations = page.evaluate("window.__csp || []")
    assert violations == [], f"{name}: CSP violations {violations}"
    assert visits.console_errors == [], f"{name}: console errors {visits.console_errors}"
    page.evaluate(AXE.read_text())
    serious: list[dict[str, Any]] = page.evaluate(AXE_SERIOUS)
    assert serious == [], f"{name}: accessibility violations {serious}"
    visits.checked.append(name)


def sign_in(page: Page, token: str) -> None:
    """Sign in through the form; lands on the cases page."""
    page.goto("/console/sign-in")
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/console/cases$"))


def wait_for_charts(page: Page, timeout_ms: int = 15_000) -> None:
    """Every chart on the page drawn (or one failed: the assertion names it)."""
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-chart]')].every(e => e.dataset.drawn)",
        timeout=timeout_ms,
    )
    failed = page.eval_on_selector_all(
        "[data-chart]", "els => els.filter(e => e.dataset.drawn !== 'true').map(e => e.id)"
    )
    assert failed == [], f"charts not drawn: {failed}"
