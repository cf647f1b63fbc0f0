"""The dashboard in headless Chromium against a real alp API process (SQLite).

Rows are seeded straight into the server's database; the browser only sees what the
server renders and serves. Screenshots go to ``test-output/screenshots/``.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image as PILImage

from alp.db import Cycle, Job, Pool, Selection
from tests.e2e.dashboard_seed import seed_pool
from tests.e2e.dashboard_server import (
    CHROMIUM,
    CHROMIUM_ARGS,
    SCREENSHOTS,
    Server,
    alp_server,
    require_chromium,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]
sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect
expect.set_options(timeout=15_000)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    require_chromium()
    with alp_server(tmp_path_factory.mktemp("dash") / "data") as srv:
        yield srv


@pytest.fixture(scope="module")
def browser(server: Server):
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, server: Server):
    """A fresh browser context (no cookies) at a laptop-sized viewport."""
    ctx = browser.new_context(base_url=server.base_url, viewport={"width": 1366, "height": 900})
    pg = ctx.new_page()
    yield pg
    ctx.close()


def sign_in(page, server: Server, path: str = "/") -> None:
    page.goto(path)
    page.get_by_label("API key").fill(server.key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def seed(server: Server, name: str, **kw):
    with server.sessions() as db:
        s = seed_pool(db, server.storage, name, **kw)
        db.commit()
    return s


def shot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


def test_sign_in_is_required_and_bad_keys_are_refused(page, server: Server) -> None:
    seed(server, "secret-pool", n_images=1, finished=[])
    page.goto("/")
    expect(page).to_have_url(f"{server.base_url}/login?next=%2F")
    assert "secret-pool" not in page.content()
    page.get_by_label("API key").fill("alp_000000000000_" + "x" * 40)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("invalid API key")
    page.get_by_label("API key").fill(server.key)
    page.keyboard.press("Enter")  # keyboard submit
    expect(page.get_by_role("link", name="secret-pool")).to_be_visible()
    cookies = page.context.cookies()
    assert [(c["name"], c["httpOnly"], c["sameSite"]) for c in cookies] == [
        ("alp_session", True, "Strict")
    ]
    assert server.key.split("_", 2)[2] not in cookies[0]["value"]


def test_overview_lists_pools_with_state(page, server: Server) -> None:
    a = seed(server, "overview-a", labelstudio=True)
    seed(
        server,
        "overview-b",
        n_images=3,
        finished=[],
        selection_size=0,
        extra_cycle={"state": "training"},
    )
    sign_in(page, server)
    row = page.locator(f'tr[data-pool="{a.pool_id}"]')
    expect(row).to_contain_text("overview-a")
    expect(row).to_contain_text("0.450")  # last AP50
    expect(row).to_contain_text("connected")
    expect(page.locator("tr", has_text="overview-b")).to_contain_text("training")
    shot(page, "overview.png")
    page.get_by_role("link", name="overview-a").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("overview-a")


def test_overview_refreshes_itself_without_a_reload(page, server: Server) -> None:
    sign_in(page, server)
    page.evaluate("window.__sameDocument = true")
    later = seed(server, "overview-late", n_images=2, finished=[])
    row = page.locator(f'tr[data-pool="{later.pool_id}"]')
    expect(row).to_contain_text("overview-late")  # polls until the refresh shows it
    assert page.evaluate("window.__sameDocument === true")  # swapped in place, no reload
    expect(page.locator("#updated")).to_contain_text("at ")


def test_pool_page_shows_timeline_curve_and_gallery_thumbnails(page, server: Server) -> None:
    s = seed(server, "finished-pool", selection_size=4, labelstudio=True)
    sign_in(page, server, f"/pools/{s.pool_id}")
    expect(page.locator("#timeline tbody tr")).to_have_count(3)
    expect(page.locator("#timeline")).to_contain_text("training 42.5 s")
    svg = page.get_by_role("img", name="Learning curve")
    expect(svg).to_be_visible()
    expect(svg.locator("circle")).to_have_count(6)  # AP50 + COCO AP, one point per cycle
    shots = page.locator(".gallery img")
    expect(shots).to_have_count(4)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.gallery img')]"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    expect(page.get_by_role("link", name="Label Studio task").first).to_have_attribute(
        "href", "http://ls.example:8080/projects/7/data?task=100"
    )
    src = shots.first.get_attribute("src")
    assert src is not None
    r = page.request.get(src)  # same cookies as the page
    assert r.ok and r.headers["content-type"] == "image/jpeg"
    im = PILImage.open(io.BytesIO(r.body())).convert("RGB")
    px = im.getpixel((10, 30))  # left edge of the predicted "cat" box
    assert px[0] > 150 and px[1] < 110, px
    full = page.get_by_role("link", name="Full image").first.get_attribute("href")
    assert full == f"/api/v1/images/{s.image_ids[0]}/content"
    r = page.request.get(full)  # the images API accepts the session cookie too
    assert r.ok and PILImage.open(io.BytesIO(r.body())).size == (96, 64)
    shot(page, "pool-finished.png")


def test_progress_bar_moves_without_a_reload(page, server: Server) -> None:
    job = {"kind": "train", "state": "running", "progress": 0.1, "message": "iteration 2/20"}
    s = seed(server, "training-pool", extra_cycle={"state": "training", "job": job})
    sign_in(page, server, f"/pools/{s.pool_id}")
    bar = page.locator(f'progress[data-job="{s.job_ids["train"]}"]')
    expect(bar).to_have_js_property("value", 0.1)
    page.evaluate("window.__sameDocument = true")
    for progress, it in ((0.35, 7), (0.6, 12)):
        with server.sessions() as db:
            row = db.get(Job, s.job_ids["train"])
            row.progress, row.message = progress, f"iteration {it}/20"
            db.commit()
        expect(bar).to_have_js_property("value", progress)
        expect(page.get_by_text(f"iteration {it}/20")).to_be_visible()
    assert page.evaluate("window.__sameDocument === true")
    shot(page, "pool.png")


def test_retry_of_a_failed_cycle_from_the_page(page, server: Server) -> None:
    s = seed(
        server,
        "failed-pool",
        extra_cycle={"state": "failed", "failed_stage": "training", "error": "RuntimeError: boom"},
    )
    failed_id = s.cycle_ids[-1]
    sign_in(page, server, f"/pools/{s.pool_id}")
    row = page.locator(f'tr[data-cycle="{failed_id}"]')
    expect(row).to_have_attribute("data-state", "failed")
    row.get_by_text("Failed in training").click()
    expect(row.get_by_text("RuntimeError: boom")).to_be_visible()
    button = row.get_by_role("button", name="Retry cycle #3")
    button.focus()
    page.keyboard.press("Enter")  # keyboard operable
    expect(page.locator("#flash")).to_have_text("Cycle #3 retried")
    expect(page.locator(f'tr[data-cycle="{failed_id}"]')).not_to_have_attribute(
        "data-state", "failed"
    )
    with server.sessions() as db:
        assert db.get(Cycle, failed_id).state != "failed"


def test_settings_form_saves_and_start_cycle_works(page, server: Server) -> None:
    s = seed(server, "settings-pool", n_images=2, finished=[])
    sign_in(page, server, f"/pools/{s.pool_id}")
    page.get_by_label("Acquisition strategy").select_option("entropy")
    page.get_by_label("Batch size (images per cycle)").fill("7")
    page.get_by_label("Auto-advance: start the next cycle when labeling is done").uncheck()
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator("#flash")).to_have_text("Settings saved")
    with server.sessions() as db:
        settings = db.get(Pool, s.pool_id).settings
    assert settings["strategy"] == "entropy"
    assert (settings["batch_size"], settings["auto_advance"]) == (7, False)
    page.get_by_role("button", name="Start cycle").click()
    expect(page.locator("#flash")).to_have_text("Cycle #0 started")  # the index, not the id
    expect(page.locator("#timeline tbody tr")).to_have_count(1)  # swapped in, no reload
    expect(page.get_by_role("button", name="Start cycle")).to_be_disabled()
    with server.sessions() as db:
        [cycle] = db.query(Cycle).filter_by(pool_id=s.pool_id).all()
    assert cycle.config["strategy"] == "entropy"


# Every element of a gallery card whose content would be cut or spill: (class, text) pairs.
OVERFLOW_JS = """() => [...document.querySelectorAll('.gallery .shot')].flatMap(card => {
  const box = card.getBoundingClientRect();
  const out = [];
  if (card.scrollWidth > card.clientWidth) out.push(['card', card.dataset.selection]);
  for (const el of card.querySelectorAll('dd, .caption, .links a, .badge')) {
    const r = el.getBoundingClientRect();
    if (r.right > box.right + 0.5 || r.left < box.left - 0.5) out.push(['outside', el.textContent]);
    if (el.tagName === 'DD' && el.scrollWidth > el.clientWidth) out.push(['cut', el.textContent]);
  }
  return out;
})"""


def test_pool_page_tells_the_truth_about_the_cycle(page, server: Server) -> None:
    """Issue 15: the curve's x axis is labeled training images (30, 39, 47, not the
    70-87 labeled with validation), y tick labels are distinct, per-class AP and Label
    Studio task counts are shown, the training cycle shows its training count, gallery
    numbers stay inside their cards, and the page has a favicon."""
    job = {"kind": "train", "state": "running", "progress": 0.3}
    training = {"state": "training", "labeled": 96, "metrics": {"train_images": 56}, "job": job}
    s = seed(server, "truthful-pool", selection_size=4, labelstudio=True,
             ls_outcomes=("annotated", "skipped"), extra_cycle=training)  # fmt: skip
    with server.sessions() as db:
        for sid in s.selection_ids:
            db.get(Selection, sid).components = {
                "localization_uncertainty_norm": 123456.789, "entropy": 0.912345678,
                "overlap_ratio_weighted_mean_of_views": 1e-9,
            }  # fmt: skip
        db.commit()
    sign_in(page, server, f"/pools/{s.pool_id}")
    svg = page.get_by_role("img", name="Learning curve")
    expect(svg.locator('[data-axis="x"]')).to_have_text("labeled training images")
    assert svg.locator(".tick-x").all_text_contents() == ["30", "35", "40", "45", "50"]
    y_labels = svg.locator(".tick-y").all_text_contents()
    assert len(y_labels) >= 3 and len(set(y_labels)) == len(y_labels), y_labels
    per_class = page.locator("#per-class")
    expect(per_class.locator('tr[data-class="cat"]')).to_contain_text("0.610")
    expect(per_class.locator('tr[data-class="dog"]')).to_contain_text("0.290")
    expect(page.locator("[data-ls-counts]")).to_have_text(
        "tasks: 4 pushed, 1 annotated, 1 skipped, 2 remaining"
    )
    training_row = page.locator(f'tr[data-cycle="{s.cycle_ids[-1]}"]')
    expect(training_row.locator("[data-train-images]")).to_have_text("56")
    expect(page.locator("#current-h + p")).to_contain_text("Cycle #3")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.gallery img')].every(i => i.naturalWidth > 0)"
    )
    expect(page.locator(".gallery dd").first).to_be_visible()
    assert page.evaluate(OVERFLOW_JS) == []
    page.set_viewport_size({"width": 700, "height": 900})  # narrow: one column
    assert page.evaluate(OVERFLOW_JS) == []
    icon = page.request.get("/favicon.ico")
    assert icon.status == 200 and icon.headers["content-type"] == "image/x-icon"
    page.set_viewport_size({"width": 1366, "height": 900})
    shot(page, "pool-truthful.png")
