"""Label Studio's own web page in headless Chromium, as an annotator uses it.

Against a REAL Label Studio server and a real alp API process (reachable at its real
address, not ``testserver``): log in through Label Studio's login page, open a pushed
task's labeling page, check the image loads (CORS) and the pre-drawn boxes appear, move
one box with the mouse, submit, and check alp stores the moved box in pixels. The
labeling page is saved as ``docs/img/labelstudio.png`` (the README's screenshot).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from PIL import Image as PILImage
from PIL import ImageDraw

from tests.e2e.dashboard_server import CHROMIUM, require_chromium
from tests.labelstudio.conftest import Stack
from tests.labelstudio.test_server_roundtrip import boxes_of, connect, pred, project_tasks
from tests.support import labelstudio as ls
from tests.support.processes import ROOT, wait_for

pytestmark = [pytest.mark.labelstudio, pytest.mark.browser, pytest.mark.timeout(600)]
sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
SCREENSHOT = ROOT / "docs" / "img" / "labelstudio.png"
DEBUG = ROOT / "test-output" / "labelstudio-browser"
W, H = 640, 480
CAT = (80.0, 60.0, 280.0, 260.0)  # the pre-drawn boxes (pixels)
DOG = (360.0, 180.0, 580.0, 420.0)
DRAG_PX = 50.0  # image pixels the annotator moves the cat box to the right


def paint(pic: PILImage.Image, _: int) -> None:
    """Two shapes where the model's boxes are, so the screenshot shows what it labels."""
    pic.paste((235, 235, 228), (0, 0, W, H))
    d = ImageDraw.Draw(pic)
    d.ellipse((CAT[0] + 20, CAT[1] + 20, CAT[2] - 20, CAT[3] - 20), fill=(214, 120, 40))
    d.rectangle((DOG[0] + 20, DOG[1] + 20, DOG[2] - 20, DOG[3] - 20), fill=(60, 90, 170))


def test_annotator_moves_a_predrawn_box_in_label_studio(
    stack: Stack, ls_server: ls.LabelStudioServer
) -> None:
    require_chromium()
    pool_id, _ = stack.create_pool("browser", ["cat", "dog"], 0)
    (image_id,) = stack.add_images(pool_id, 1, size=(W, H), paint=paint)
    project_id = connect(stack, pool_id, ls_server, ls_server.token)["project_id"]
    stack.enter_labeling(pool_id, {image_id: pred((*CAT, 0, 0.91), (*DOG, 1, 0.62))})
    from label_studio_sdk import LabelStudio

    sdk = LabelStudio(base_url=ls_server.url, api_key=ls_server.token)
    (task,) = wait_for(lambda: project_tasks(sdk, project_id), timeout=60, what="the task")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(60_000)
            console: list[str] = []
            page.on("console", lambda m: console.append(m.text))
            try:
                annotate(page, ls_server, project_id, task["id"], console)
            finally:
                debug(page, "labeling", console)
        finally:
            browser.close()

    def stored() -> list[list[Any]] | None:
        boxes = sorted(boxes_of(stack, image_id), key=lambda b: b[4])
        return boxes if boxes else None

    boxes = wait_for(stored, timeout=60, what="the submitted annotation in alp")
    assert len(boxes) == 2 and [b[4] for b in boxes] == ["cat", "dog"]
    x1, y1, x2, y2 = boxes[0][:4]
    # moved right in image pixels (Konva starts a drag only after ~3 screen pixels of
    # movement, so a little less than the mouse travelled), same size, same height
    assert DRAG_PX - 5 <= x1 - CAT[0] <= DRAG_PX + 1
    assert (x2 - x1, y1, y2) == pytest.approx((CAT[2] - CAT[0], CAT[1], CAT[3]), abs=0.5)
    assert boxes[1][:4] == pytest.approx(list(DOG), abs=0.5)  # untouched


def annotate(page: Any, server: ls.LabelStudioServer, project_id: int, task_id: int,
             console: list[str]) -> None:  # fmt: skip
    """Log in through Label Studio's page, open the task, check it, drag the cat, submit."""
    expect = sync_api.expect
    page.goto(f"{server.url}/user/login/")
    page.fill("#email", ls.USERNAME)
    page.fill("#password", ls.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda u: "/user/login" not in u)
    page.goto(f"{server.url}/projects/{project_id}/data?task={task_id}")
    image = page.locator("img[alt=image]")  # the editor's image (fetched: needs CORS)
    page.wait_for_function(
        "() => { const i = document.querySelector('img[alt=image]');"
        " return i && i.complete && i.naturalWidth > 0; }"
    )
    assert image.evaluate("i => [i.naturalWidth, i.naturalHeight]") == [W, H]
    regions = page.locator(".lsf-tree__node_type_rectangleregion")
    expect(regions).to_have_count(2)  # the pre-drawn boxes
    expect(regions.nth(0)).to_contain_text("cat")
    expect(regions.nth(1)).to_contain_text("dog")
    expect(page.get_by_text("alp cycle #0 · rank 1")).to_be_visible()  # cycle number shown
    expect(page.get_by_text("alp-cycle-0")).to_be_visible()  # the prediction's tab
    # Label Studio 1.23 prints a prediction score as " · 10.00%" titled "Prediction score"
    assert page.locator("[title^='Prediction score']").count() == 0
    assert page.get_by_text(re.compile(r"\d+(\.\d+)?%")).count() == 0  # no priority as "%"
    thumb = page.locator("img[src*='/content?']").first  # the Data Manager's thumbnail
    assert thumb.evaluate("i => i.complete && i.naturalWidth") == W
    assert not [m for m in console if "CORS" in m], console
    stage = page.locator(".konvajs-content").first
    page.wait_for_timeout(500)  # let the canvas settle before the screenshot
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))
    box = stage.bounding_box()
    assert box is not None
    scale = box["width"] / W
    cx = box["x"] + (CAT[0] + CAT[2]) / 2 * scale
    cy = box["y"] + (CAT[1] + CAT[3]) / 2 * scale
    page.mouse.click(cx, cy)  # select the region, then drag it
    page.mouse.move(cx, cy)
    page.mouse.down()
    page.mouse.move(cx + DRAG_PX * scale, cy, steps=12)
    page.mouse.up()
    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_role("button", name="Submit")).to_have_count(0)


def debug(page: Any, name: str, console: list[str]) -> None:
    """What the page looked like (for a failing run): test-output/labelstudio-browser/."""
    DEBUG.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(DEBUG / f"{name}.png"))
    (DEBUG / f"{name}.html").write_text(page.content())
    (DEBUG / "console.txt").write_text("\n".join(console))
