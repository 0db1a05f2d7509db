"""The dashboard in a real browser: headless Chromium driven by Playwright for Python, launched from
Debian's /usr/bin/chromium (no browser download), against a real server and a real training worker.

A marketer signs in, starts a retraining, watches the progress bar reach the end, reads the gate's
verdict, promotes the older version, rolls back, and opens a customer's single view; every page is also
checked at phone width (no sideways scrolling), for console errors (a Content Security Policy violation
is one) and for requests to any other host (the dashboard works offline). A screenshot of each page is
saved under the test's temporary folder.

Without Chromium or Playwright these tests skip with the reason; ``.ci/run`` installs Chromium and sets
RECO_REQUIRE_CHROMIUM=1, which turns the skip into a failure.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from reco.ingest import ingest
from reco.registry import ModelRegistry
from reco.store import EventStore
from training.train import train

CHROMIUM = Path(os.environ.get("RECO_CHROMIUM", "/usr/bin/chromium"))
ROOT = Path(__file__).resolve().parents[2]
PHONE = {"width": 390, "height": 844}


def _missing() -> str | None:
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium chromium-driver; .ci/run does)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -e '.[dev]')"
    return None


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    reason = _missing()
    if reason:
        if os.environ.get("RECO_REQUIRE_CHROMIUM"):
            pytest.fail(f"RECO_REQUIRE_CHROMIUM is set but {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield browser
        browser.close()


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live(settings_env: dict[str, str], store: EventStore, purchases_csv: Path, tmp_path: Path
         ) -> Iterator[dict[str, Any]]:
    """A server (``reco serve``) and a worker (``reco worker``), each its own process, on a store with one
    trained version; a marketer key."""
    ingest(store, purchases_csv)
    registry = ModelRegistry(Path(settings_env["RECO_MODEL_DIR"]))
    first = train(store, registry)["version"]
    key = store.add_api_key("marketer")
    port = _port()
    env = {**os.environ, **settings_env, "PYTHONPATH": str(ROOT), "RECO_RELOAD_SECONDS": "0.2",
           "RECO_SYNC_SECONDS": "0.5", "OPENBLAS_NUM_THREADS": "1"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    logs = [open(tmp_path / name, "w") for name in ("server.log", "worker.log")]  # noqa: SIM115
    processes = [
        subprocess.Popen([sys.executable, "-m", "training.cli", "serve", "--port", str(port)], cwd=tmp_path, env=env,
                         stdout=subprocess.DEVNULL, stderr=logs[0]),
        subprocess.Popen([sys.executable, "-m", "training.cli", "worker", "--poll-seconds", "0.2"], cwd=tmp_path,
                         env=env, stdout=subprocess.DEVNULL, stderr=logs[1]),
    ]
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "server.log").read_text()[-3000:]
            time.sleep(0.3)
        yield {"base": base, "key": key, "first": first, "registry": registry, "shots": tmp_path / "screenshots"}
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        for log in logs:
            log.close()


class Watch:
    """Console errors and requests to any other origin, seen by a page."""

    def __init__(self, page: Any, base: str) -> None:
        self.errors: list[str] = []
        self.elsewhere: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("request", lambda r: None if r.url.startswith((base, "data:")) else self.elsewhere.append(r.url))


def _shot(page: Any, folder: Path, name: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
    assert (folder / f"{name}.png").stat().st_size > 5_000


def test_a_marketer_retrains_promotes_rolls_back_and_opens_a_customer(chromium: Any, live: dict[str, Any]) -> None:
    from playwright.sync_api import expect

    base, shots, registry = live["base"], live["shots"], live["registry"]
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    watch = Watch(page, base)

    page.goto(f"{base}/dashboard/training")  # not signed in: the sign-in form, then back to this page
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    _shot(page, shots, "sign-in")
    page.get_by_label("API key").fill(live["key"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Training")).to_be_visible()
    cookie = next(c for c in context.cookies() if c["name"] == "reco_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/dashboard"
    assert page.evaluate("document.cookie") == ""  # the page's scripts never see the session
    assert [e for e in watch.errors if "401" not in e] == []  # the sign-in form came with its 401
    watch.errors.clear()

    page.get_by_label("What to train").select_option("recommendations")
    page.get_by_label("Promote").select_option("auto")
    page.get_by_role("button", name="Start training").click()
    expect(page.get_by_role("heading", name=re.compile("Training run"))).to_be_visible()
    progress = page.locator("[data-run-progress]")
    expect(progress).to_be_visible()
    _shot(page, shots, "run-in-progress")
    seen: list[tuple[float, float]] = []  # the bar's (value, max) while it moves
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        state = page.evaluate("""() => { const box = document.querySelector('[data-run-progress]');
            if (!box) return null; const bar = box.querySelector('progress');
            return [bar.value, bar.max, box.getAttribute('data-finished')]; }""")
        if state is None:
            break  # reloaded: the run ended
        seen.append((state[0], state[1]))
        if state[2]:
            assert state[2] == "succeeded" and state[0] == state[1] > 1  # the bar reached its end
            break
        time.sleep(0.05)
    assert seen and seen[-1][0] == seen[-1][1]
    verdict = page.locator("[data-verdict]")
    expect(verdict).to_be_visible(timeout=30_000)
    expect(verdict).to_contain_text("gate passed")
    expect(verdict.locator(".badge.ok", has_text="promoted")).to_be_visible()
    second = registry.promoted()
    assert second != live["first"]
    expect(verdict).to_contain_text(second)
    expect(page.locator("[data-state]")).to_have_text("succeeded")
    _shot(page, shots, "run-finished")

    page.get_by_role("navigation").get_by_role("link", name="Models").click()
    expect(page.locator("[data-promoted]")).to_have_text(second)
    older = page.locator(f'article[data-version="{live["first"]}"]')
    older.get_by_label("Reason").fill("back to the autumn model")
    older.get_by_role("button", name=f"Promote {live['first']}").click()
    expect(page.get_by_role("status")).to_contain_text(f"Version {live['first']} is promoted")
    expect(page.locator("[data-promoted]")).to_have_text(live["first"])
    assert registry.promoted() == live["first"]
    expect(page.locator("table").last).to_contain_text("back to the autumn model")
    _shot(page, shots, "models")
    page.get_by_role("button", name=f"Roll back to {second}").click()
    expect(page.get_by_role("status")).to_contain_text(f"Rolled back: version {second}")
    assert registry.promoted() == second
    assert registry.history.entries()[-1]["by"] == "dashboard (marketer key)"

    page.get_by_role("navigation").get_by_role("link", name="Customers").click()
    page.get_by_label("Customer id").fill("C001")
    page.get_by_role("button", name="Open").click()
    expect(page.get_by_role("heading", name="Customer C001")).to_be_visible()
    expect(page.locator('[data-status="active"]')).to_be_visible()
    expect(page.locator('[data-recommendations="new"] li')).to_have_count(10)
    expect(page.get_by_role("heading", name="Across channels")).to_be_visible()
    _shot(page, shots, "customer")

    for name, path in (("overview", ""), ("training", "/training"), ("customers", "/customers"),
                       ("offers", "/offers")):
        page.goto(f"{base}/dashboard{path}")
        expect(page.locator("main h1")).to_be_visible()
        _shot(page, shots, name)
    assert not watch.errors, watch.errors  # no script error, no blocked style or script (CSP)
    assert not watch.elsewhere, watch.elsewhere  # nothing fetched from another host
    context.close()


def test_every_page_reads_at_phone_width(chromium: Any, live: dict[str, Any]) -> None:
    base, shots = live["base"], live["shots"] / "phone"
    context = chromium.new_context(viewport=PHONE, is_mobile=True)
    page = context.new_page()
    watch = Watch(page, base)
    page.goto(f"{base}/dashboard")
    page.get_by_label("API key").fill(live["key"])
    page.get_by_role("button", name="Sign in").click()
    page.locator("main h1").wait_for()
    watch.errors.clear()  # the sign-in form's 401
    for name, path in (("overview", ""), ("models", "/models"), ("training", "/training"),
                       ("customers", "/customers"), ("customer", "/customers/C001"), ("offers", "/offers")):
        page.goto(f"{base}/dashboard{path}")
        page.locator("main h1").wait_for()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{name} is {width}px wide at a {PHONE['width']}px screen"
        unlabelled = page.evaluate("""() => [...document.querySelectorAll('input:not([type=hidden]), select')]
            .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')).map(e => e.name)""")
        assert unlabelled == [], f"{name}: controls without a label: {unlabelled}"
        _shot(page, shots, name)
    assert not watch.errors and not watch.elsewhere
    context.close()
