"""End to end in a real browser: `streamlit run app.py` driven by Debian's chromium through playwright.

A learner picks three courses in the course table, gets recommendations from two models, narrows them with
the duration slider from the keyboard, gives a thumbs down, and runs a small comparison. Every wait is for a
condition (a script run that started and finished, an element with a test id), never a fixed sleep. Screenshots go to tests/screenshots/ (git-ignored) for a human to look
at. Skips with a reason when chromium or playwright is missing (never downloads a browser).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench._browser import CHROMIUM, CHROMIUM_ARGS, COUNT_MESSAGES, recommended_ids, settle, streamlit_server

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "tests" / "screenshots"

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium) to run this test")
    pytest.importorskip("playwright.sync_api", reason="python playwright is not installed")
    from recsys.data import generate_dataset

    base = tmp_path_factory.mktemp("e2e")
    generate_dataset(base / "data", seed=3, n_learners=800, n_courses=40)
    # One copy of the server start / health wait / stop (shared with bench/browser_latency.py); the file
    # watcher is off, so files edited meanwhile never reload modules mid-test.
    with streamlit_server(base / "data", base / "artifacts", base / "server.log", timeout=90, poll=0.3) as url:
        yield url


def _rerun(page, action, timeout: float = 60_000) -> None:
    """Do `action` (which makes the app rerun) and wait until the server answered it and the run finished:
    waiting for 'notRunning' alone can pass before the rerun the action asked for has even begun."""
    before = page.evaluate("window.__streamlitMessages")
    action()
    page.wait_for_function(f"window.__streamlitMessages > {before}", timeout=timeout)
    page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")
    settle(page, timeout)


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _pick_model(page, label: str) -> None:
    page.get_by_role("combobox", name="Model", exact=True).click()
    _rerun(page, lambda: page.get_by_role("option", name=label, exact=True).click())


_FOCUSED_KEY = """() => {
    const el = document.activeElement;
    const keyed = el && el.closest("[class*='st-key-']");
    return keyed ? keyed.className.match(/st-key-[^ ]+/)[0] : null;
}"""


def _level_cells(page):
    """The Level cells of the recommendation rows (markdown paragraphs holding just a level name)."""
    return page.locator("[data-testid='stMarkdownContainer'] p").filter(
        has_text=re.compile(r"^(Beginner|Intermediate|Advanced)$")
    )


def _picked_count(page) -> int:
    """N in the 'Completed courses (N)' label under the course table."""
    label = page.locator("[data-testid='stWidgetLabel'] >> text=/Completed courses \\(\\d+\\)/").first.inner_text()
    return int(re.search(r"\((\d+)\)", label).group(1))


def test_learner_flow_and_comparison(server, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1800})
            page.add_init_script(COUNT_MESSAGES)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))

            page.goto(server + "/")
            settle(page)
            assert page.get_by_role("heading", name="Course recommender workbench").is_visible()
            _shot(page, "01_home")

            # A malformed upload gives one readable error, and the dataset in use stays.
            _rerun(page, lambda: page.get_by_role("radio", name="Upload CSV files").click())
            bad = tmp_path / "ratings.csv"
            bad.write_text("user,item\n1,ML0101EN\n")
            page.locator("input[type='file']").set_input_files(str(bad))
            page.wait_for_selector("[data-testid='stAlertContentError']", timeout=30_000)
            settle(page)
            assert page.locator("[data-testid='stAlertContentError']").count() == 1
            assert page.locator("[data-testid='stSidebar'] >> text=800 learners").is_visible()
            _shot(page, "01b_bad_upload")

            page.goto(server + "/recommend")
            settle(page)
            # Tick three rows in the course table (a canvas grid: click the row-selection checkboxes).
            grid = page.locator(".stDataFrame").first
            grid.scroll_into_view_if_needed()
            box = grid.bounding_box()
            # Quick clicks, back to back as a user would make them: none may be lost to the reruns they trigger.
            for row in range(3):
                page.mouse.click(box["x"] + 18, box["y"] + 35 + 17 + 35 * row)
            page.wait_for_selector("text=Completed courses (3)", timeout=30_000)
            settle(page)
            assert _picked_count(page) == 3

            _rerun(page, lambda: page.get_by_role("button", name="Train model").click())
            page.wait_for_selector("[class*='st-key-rec_down_']", timeout=60_000)
            first_model = recommended_ids(page)
            assert len(first_model) >= 5
            _shot(page, "02_recommend_popularity")

            _pick_model(page, "User profile (genres)")
            _rerun(page, lambda: page.get_by_role("button", name="Train model").click())
            page.wait_for_selector("text=From User profile (genres)", timeout=60_000)
            second_model = recommended_ids(page)
            assert len(second_model) >= 5
            _shot(page, "03_recommend_user_profile")

            # The Level column keeps its words whole ("Intermediate", not "Intermedia-te") at 1400 px; the whole
            # catalogue is listed so the longest level name is among the rows.
            how_many = page.locator(".st-key-rec_k input")
            how_many.fill("40")
            _rerun(page, lambda: how_many.press("Enter"))
            cells = _level_cells(page)
            assert "Intermediate" in cells.all_inner_texts()
            for height, line in cells.evaluate_all(
                "els => els.map(e => [e.getBoundingClientRect().height, parseFloat(getComputedStyle(e).lineHeight)])"
            ):
                assert height < 1.5 * line, (
                    f"a level name wraps onto two lines ({height:.0f} px for {line:.0f} px lines)"
                )

            # The duration slider keeps keyboard focus across the reruns its changes cause.
            handle = page.locator(".st-key-rec_f_hours input[type='range']")
            handle.focus()
            start = int(handle.get_attribute("value"))
            for step in range(1, 3):
                _rerun(page, lambda: page.keyboard.press("ArrowLeft"))
                assert page.evaluate(_FOCUSED_KEY) == "st-key-rec_f_hours", f"focus lost after change {step}"
            assert int(handle.get_attribute("value")) == start - 2

            # Thumbs down on the first recommendation: it leaves the list for this session, shows as a
            # "not for me" chip apart from the completed courses, and the chip undoes it.
            disliked = recommended_ids(page)[0]
            _rerun(page, lambda: page.locator(f".st-key-rec_down_{disliked} button").first.click())
            page.wait_for_selector(f".st-key-rec_disliked .st-key-rec_undo_{disliked}", timeout=30_000)
            assert disliked not in recommended_ids(page)
            assert _picked_count(page) == 3, "a thumbs-down is not a completed course"
            _shot(page, "03b_not_for_me")

            _rerun(page, lambda: page.get_by_role("link", name="Compare").first.click())
            _rerun(page, lambda: page.get_by_role("button", name="Run comparison").click(), timeout=90_000)
            page.wait_for_selector(".st-key-cmp_leaderboard [data-testid='stDataFrame']", timeout=90_000)
            settle(page, 90_000)
            problems = page.locator(
                "[data-testid='stException'], [data-testid='stAlertContentError']"
            ).all_inner_texts()
            _shot(page, "04_compare")
            assert page.get_by_text("Paired test").is_visible(), f"no paired test; errors on the page: {problems}"
            # The leaderboard's main metrics fit the 1400 px window: no horizontal scrolling.
            width, visible = page.locator(".st-key-cmp_leaderboard [data-testid='stDataFrame']").evaluate(
                "el => { const s = el.querySelector('.dvn-scroller') || el; return [s.scrollWidth, s.clientWidth]; }"
            )
            assert width <= visible + 1, f"the leaderboard scrolls sideways ({width} px in {visible} px)"
            # The timing chart's panel titles are not cut, and no blank gap is left under the metric chart.
            page.wait_for_selector(".st-key-cmp_times .main-svg", timeout=30_000)
            for title, left, right in page.locator(".st-key-cmp_times").evaluate(
                """el => { const r = el.getBoundingClientRect();
                        return [...el.querySelectorAll('.annotation-text, .gtitle')].map(t => {
                            const b = t.getBoundingClientRect(); return [t.textContent, b.left - r.left, r.right - b.right]; }); }"""
            ):
                assert left >= -1 and right >= -1, f"chart title cut: {title!r}"
            bars = page.locator(".st-key-cmp_bars").bounding_box()
            below = page.locator(".st-key-cmp_times").bounding_box()
            assert below["y"] - (bars["y"] + bars["height"]) < 60, "blank gap under the metric chart"

            # A learner story: a learning path for the default career goal, as a timeline and a step table.
            _rerun(page, lambda: page.get_by_role("link", name="Learning path").first.click())
            _rerun(page, lambda: page.get_by_role("button", name="Build my path").click(), timeout=120_000)
            page.wait_for_selector(".st-key-lp_timeline .main-svg", timeout=120_000)
            settle(page, 60_000)
            _shot(page, "05_learning_path")
            assert page.get_by_text("Your path:").first.is_visible()
            assert page.locator("[data-testid='stMain'] [data-testid='stDataFrame']").count() >= 1, "no step table"
            assert not errors, f"JavaScript errors in the page: {errors}"
            assert page.locator("[data-testid='stException']").count() == 0
        finally:
            browser.close()
