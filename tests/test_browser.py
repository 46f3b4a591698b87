"""The pages in a real browser: headless Chromium (Debian's ``chromium`` + ``chromium-driver``).

Loads ``/`` and checks the MJPEG image is showing frames and the reading is displayed; loads
``/draw``, draws digits with synthetic pointer events (a mouse and a finger), and checks the
prediction and its bar chart. Screenshots go to ``artifacts/`` (git-ignored). ``.ci/run`` installs
the browser; where it is missing this module is skipped with the reason.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from web_helpers import PAD, STROKES, make_clip

from mnist_edge.reading.reader import DigitReader, make_reader
from mnist_edge.web import hub as web_hub
from mnist_edge.web import server as web
from mnist_edge.web import uploads

selenium = pytest.importorskip("selenium", reason="selenium is in the dev extra")
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.actions import interaction  # noqa: E402
from selenium.webdriver.common.actions.action_builder import ActionBuilder  # noqa: E402
from selenium.webdriver.common.actions.pointer_input import PointerInput  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1200,900")

if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
    pytest.skip("needs Debian's chromium and chromium-driver (apt-get install chromium "
                "chromium-driver; .ci/run does)", allow_module_level=True)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # A given driver path means Selenium never looks for (or downloads) a driver itself.
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def site(tflite_model, tmp_path_factory):
    """The real loop (``webcam.run``) on a looping clip of a page, served live; yields the
    server and the reading the model gives that page."""
    import cv2

    from mnist_edge.reading import live as webcam

    clip = make_clip(tmp_path_factory.mktemp("clip") / "page.avi")
    reader = make_reader(tflite_model, **uploads.DRAW_PAD_READING)
    live_reader = DigitReader(tflite_model)
    first_frame = cv2.VideoCapture(str(clip)).read()[1]
    expected = "".join(str(d.label) for d in live_reader.read(first_frame))
    hub = web_hub.LiveHub(uploads.reader_model_info(reader, None))
    server = web.build_server("127.0.0.1:0", hub=hub, reader=reader).start()
    stop = threading.Event()
    loop = threading.Thread(target=webcam.run, args=(str(clip), live_reader), kwargs=dict(
        headless=True, realtime=True, loop=True, on_frame=hub.publish,
        on_status=hub.set_status, stop=stop), daemon=True)
    loop.start()
    yield server, expected
    stop.set()
    loop.join(timeout=10)
    server.close()


def js_errors(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def test_live_page_shows_stream_and_reading(browser, site):
    server, expected = site
    assert expected  # the model finds digits on the clip's page
    browser.get(server.url)
    wait = WebDriverWait(browser, 20)
    wait.until(lambda d: d.execute_script(
        "const img = document.getElementById('stream');"
        "return img.naturalWidth === 640 && img.naturalHeight === 480;"))
    wait.until(lambda d: d.find_element("id", "reading").text == expected)
    assert browser.find_element("id", "camera").text == "live"
    wait.until(lambda d: d.find_element("id", "fps").text not in ("", "–"))
    assert 3 < float(browser.find_element("id", "fps").text) < 20  # the clip's own 10 FPS
    assert "tflite" in browser.find_element("id", "model").text
    # The table is redrawn on every poll: read it in one script, not element by element.
    rows = browser.execute_script(
        "return [...document.querySelectorAll('#digits tr')].map(r => r.innerText);")
    assert "".join(r.split()[0] for r in rows) == expected
    assert all(r.split()[-1].endswith("%") for r in rows)
    # The <img> shows real frames: a canvas copy of it has the page's light paper and dark ink.
    spread = browser.execute_script(
        "const img = document.getElementById('stream');"
        "const c = document.createElement('canvas'); c.width = 64; c.height = 48;"
        "const g = c.getContext('2d'); g.drawImage(img, 0, 0, 64, 48);"
        "const px = g.getImageData(0, 0, 64, 48).data; let lo = 255, hi = 0;"
        "for (let i = 0; i < px.length; i += 4) {"
        "  lo = Math.min(lo, px[i]); hi = Math.max(hi, px[i]); }"
        "return hi - lo;")
    assert spread > 100
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "browser_live.png"))
    assert js_errors(browser) == []


def draw(browser, label: int, pointer: str) -> None:
    """Draw ``label``'s strokes on the pad with WebDriver pointer actions (real pointer events)."""
    rect = browser.execute_script(
        "const r = document.getElementById('pad').getBoundingClientRect();"
        "return [r.left, r.top, r.width, r.height];")
    left, top, width, height = rect
    kind = interaction.POINTER_TOUCH if pointer == "touch" else interaction.POINTER_MOUSE
    actions = ActionBuilder(browser, mouse=PointerInput(kind, pointer), duration=10)
    for stroke in STROKES[label]:
        points = [(left + x * width, top + y * height) for x, y in stroke]
        actions.pointer_action.move_to_location(*map(int, points[0])).pointer_down()
        for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
            # Short moves, as from a real hand: one pointermove every ~8 px.
            steps = max(1, int(max(abs(x1 - x0), abs(y1 - y0)) / 8))
            for t in range(1, steps + 1):
                actions.pointer_action.move_to_location(int(x0 + (x1 - x0) * t / steps),
                                                        int(y0 + (y1 - y0) * t / steps))
        actions.pointer_action.pointer_up()
    actions.perform()


@pytest.mark.parametrize("label, pointer", [(7, "mouse"), (0, "touch")])
def test_draw_pad_reads_a_drawn_digit(browser, site, label, pointer):
    browser.get(site[0].url + "draw")
    wait = WebDriverWait(browser, 15)
    wait.until(lambda d: d.find_element("id", "result").text == "–")
    draw(browser, label, pointer)
    wait.until(lambda d: d.find_element("id", "result").get_attribute("data-state") == "done")
    assert browser.find_element("id", "result").text == str(label)
    columns = browser.find_elements("css selector", "#charts .chart .col")
    assert [c.get_attribute("data-digit") for c in columns] == [str(d) for d in range(10)]
    top = browser.find_element("css selector", "#charts .chart .col.top")
    assert top.get_attribute("data-digit") == str(label)
    heights = browser.execute_script(
        "return [...document.querySelectorAll('#charts .bar')].map(b => b.offsetHeight);")
    assert max(heights) == heights[label] and heights[label] > 50  # the chart is drawn
    ink = browser.execute_script(  # the strokes really landed on the canvas
        "const c = document.getElementById('pad');"
        "const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        "let dark = 0; for (let i = 0; i < px.length; i += 4) if (px[i] < 128) dark++;"
        "return dark / (c.width * c.height);")
    assert 0.03 < ink < 0.4, ink
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / f"browser_draw_{label}_{pointer}.png"))
    browser.find_element("id", "clear").click()
    assert browser.find_element("id", "result").text == "–"
    assert js_errors(browser) == []
    assert browser.execute_script("return document.getElementById('pad').width;") == PAD


def _drag(browser, element_id: str, start, end, frame_size) -> None:
    """A mouse drag on ``element_id`` from frame pixel ``start`` to ``end`` (the canvas may be
    scaled by CSS)."""
    left, top, width, height = browser.execute_script(
        f"const r = document.getElementById('{element_id}').getBoundingClientRect();"
        "return [r.left, r.top, r.width, r.height];")
    sx, sy = width / frame_size[0], height / frame_size[1]
    points = [(left + x * sx, top + y * sy) for x, y in (start, end)]
    actions = ActionBuilder(browser, mouse=PointerInput(interaction.POINTER_MOUSE, "mouse"),
                            duration=10)
    actions.pointer_action.move_to_location(*map(int, points[0])).pointer_down()
    for t in range(1, 11):
        actions.pointer_action.move_to_location(
            int(points[0][0] + (points[1][0] - points[0][0]) * t / 10),
            int(points[0][1] + (points[1][1] - points[0][1]) * t / 10))
    actions.pointer_action.pointer_up()
    actions.perform()


def test_regions_page_drags_boxes_and_saves_them(browser):
    """`regions --edit`: move a proposed box, draw a new one, remove one, save."""
    import numpy as np

    from mnist_edge.web.editor import RegionEditor

    frame = np.full((240, 320, 3), 220, np.uint8)
    posted: list = []

    def save(boxes):
        posted.append(boxes)
        return f"{len(boxes)} regions"

    editor = RegionEditor(frame, [(20, 40, 40, 60), (200, 40, 40, 60)], save)
    server = web.build_server("127.0.0.1:0", editor=editor).start()
    try:
        browser.get(server.url)  # / leads to the regions page
        wait = WebDriverWait(browser, 15)
        wait.until(lambda d: d.find_element("id", "frame").get_attribute("data-ready") == "1")
        _drag(browser, "frame", (40, 70), (60, 90), (320, 240))      # move box 1 by (20, 20)
        _drag(browser, "frame", (100, 120), (150, 190), (320, 240))  # a new box
        _drag(browser, "frame", (210, 50), (210, 50), (320, 240))    # select box 2 (a click)
        browser.find_element("id", "remove").click()
        browser.find_element("id", "save").click()
        wait.until(lambda d: d.find_element("id", "result").get_attribute("data-state"))
        assert browser.find_element("id", "result").get_attribute("data-state") == "saved"
        assert editor.saved.is_set() and len(posted) == 1
        (moved, new), = [posted[0]]
        assert abs(moved[0] - 40) <= 2 and abs(moved[1] - 60) <= 2 and moved[2:] == (40, 60)
        assert abs(new[0] - 100) <= 2 and abs(new[1] - 120) <= 2
        assert abs(new[2] - 50) <= 3 and abs(new[3] - 70) <= 3
        ARTIFACTS.mkdir(exist_ok=True)
        browser.save_screenshot(str(ARTIFACTS / "browser_regions.png"))
        assert js_errors(browser) == []
    finally:
        server.close()


def test_label_page_files_crops_with_key_presses(browser, tmp_path):
    """`label DIR`: the crops show as a grid (unsure/ first); a digit key moves the selected
    crop into that class's folder and selects the next; x discards into _discarded/; a
    class's letter key files into it; arrows move the selection; a clicked crop is selected."""
    import cv2
    import numpy as np
    from selenium.webdriver.common.keys import Keys

    from mnist_edge.web.labeler import Labeler

    root = tmp_path / "set"
    for rel, value in (("unsure/a.png", 10), ("unsure/b.png", 20), ("unsure/c.png", 30),
                       ("7/a.png", 70), ("N/n.png", 90)):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / rel), np.full((32, 20), value, np.uint8))
    server = web.build_server("127.0.0.1:0", labeler=Labeler(root)).start()
    try:
        browser.get(server.url)  # / leads to the label page
        wait = WebDriverWait(browser, 15)
        wait.until(lambda d: d.find_element("id", "grid").get_attribute("data-ready") == "1")
        tiles = browser.execute_script(
            "return [...document.querySelectorAll('.tile')].map(t => t.dataset.id);")
        assert tiles == ["unsure/a.png", "unsure/b.png", "unsure/c.png", "7/a.png", "N/n.png"]
        wait.until(lambda d: d.execute_script(  # the crops really load as images
            "return [...document.querySelectorAll('.tile img')].every(i => i.naturalWidth "
            "=== 20);"))
        selected = lambda: browser.find_element("id", "grid").get_attribute("data-selected")  # noqa: E731
        assert selected() == "unsure/a.png"
        body = browser.find_element("tag name", "body")
        body.send_keys("7")
        wait.until(lambda d: (root / "7" / "a-1.png").is_file())  # 7/a.png was taken
        assert not (root / "unsure" / "a.png").exists() and (root / "7" / "a.png").is_file()
        wait.until(lambda d: selected() == "unsure/b.png")
        body.send_keys("x")
        wait.until(lambda d: (root / "_discarded" / "b.png").is_file())
        wait.until(lambda d: selected() == "unsure/c.png")
        body.send_keys(Keys.ARROW_RIGHT)
        assert selected() == "7/a.png"
        body.send_keys(Keys.ARROW_LEFT, Keys.ARROW_LEFT)
        assert selected() == "7/a-1.png"  # the moved crop stays, under its new name
        browser.find_element("css selector", '.tile[data-id="unsure/c.png"]').click()
        body.send_keys("n")  # the N class's key
        wait.until(lambda d: (root / "N" / "c.png").is_file())
        wait.until(lambda d: d.find_element("id", "status").text.endswith("N/c.png"))
        captions = browser.execute_script(
            "return [...document.querySelectorAll('.tile')].map(t => t.dataset.id + ' ' + "
            "t.querySelector('figcaption').textContent);")
        assert captions == ["7/a-1.png 7", "N/c.png N", "7/a.png 7", "N/n.png N"]
        assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*.png")) == [
            "7/a-1.png", "7/a.png", "N/c.png", "N/n.png", "_discarded/b.png"]
        ARTIFACTS.mkdir(exist_ok=True)
        browser.save_screenshot(str(ARTIFACTS / "browser_label.png"))
        assert js_errors(browser) == []
    finally:
        server.close()
