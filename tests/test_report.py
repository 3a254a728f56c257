"""Snakemake's HTML report after a small run, opened in headless Chromium and clicked through.

The report is a single-page React app: the figures and tables only enter the DOM when a reader
clicks a category and a result, so ``chromium --dump-dom`` would show the start page only. This
test drives Chromium over the DevTools protocol on a pipe (``--remote-debugging-pipe``:
NUL-separated JSON on file descriptors 3 and 4, standard library only), clicks every result like a
reader, and checks what the page then shows: every figure as a decoded <img>, the comparison table
as a rendered table.

Needs Debian's chromium (``apt-get install chromium``). Without it the test skips, unless
BUSFLOW_REQUIRE_CHROMIUM is set (CI), where a missing browser is a failure.
"""

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from busflow.models.registry import model_names

from workflow_helpers import snakemake

pytestmark = pytest.mark.workflow

MODELS = tuple(model_names())
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
EXPECTED_FIGURES = {
    "roc.png",
    "confusion_matrices.png",
    "calibration.png",
    *(f"training_{m}.png" for m in MODELS),
    *(f"cam_{m}.png" for m in MODELS),
}


def chromium_binary() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("BUSFLOW_REQUIRE_CHROMIUM"):
        pytest.fail(
            "BUSFLOW_REQUIRE_CHROMIUM is set but chromium is not "
            "installed (apt-get install chromium)"
        )
    pytest.skip(
        "chromium is not installed (apt-get install chromium); set "
        "BUSFLOW_REQUIRE_CHROMIUM=1 to fail instead"
    )


class Chromium:
    """Headless Chromium driven over the DevTools protocol on a pipe; one page."""

    def __init__(self, binary: str, user_data_dir: Path, size=(1400, 900)):
        to_browser, self._write = os.pipe()
        self._read, from_browser = os.pipe()
        # Above 10 and close-on-exec, so that moving them to 3 and 4 in
        # the child cannot clobber them.
        ends = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (to_browser, from_browser)]
        os.close(to_browser)
        os.close(from_browser)

        def on_fds_3_and_4():
            os.dup2(ends[0], 3)
            os.dup2(ends[1], 4)

        command = [
            binary,
            *CHROMIUM_FLAGS,
            "--remote-debugging-pipe",
            f"--user-data-dir={user_data_dir}",
            f"--window-size={size[0]},{size[1]}",
            "about:blank",
        ]
        # close_fds=False: Python's own descriptors are close-on-exec anyway; 3 and 4 must survive.
        self.process = subprocess.Popen(
            command,
            close_fds=False,
            preexec_fn=on_fds_3_and_4,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for fd in ends:
            os.close(fd)
        self.size = size
        self._buffer = b""
        self._last_id = 0
        self.session = None

    def send(
        self, method: str, params: dict | None = None, session: bool = True, timeout: float = 60
    ):
        self._last_id += 1
        message = {"id": self._last_id, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                reply = json.loads(raw)
                if reply.get("id") == self._last_id:  # events and other replies are not needed
                    if "error" in reply:
                        raise RuntimeError(f"{method}: {reply['error']}")
                    return reply["result"]
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"chromium did not answer {method} in {timeout} s")
            if select.select([self._read], [], [], left)[0]:
                chunk = os.read(self._read, 1 << 20)
                if not chunk:
                    raise RuntimeError(
                        f"chromium exited (code {self.process.poll()}) during {method}"
                    )
                self._buffer += chunk

    def open(self, url: str) -> None:
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self.session = self.send(
            "Target.attachToTarget", {"targetId": target, "flatten": True}, session=False
        )["sessionId"]
        self.send("Page.enable")
        width, height = self.size
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
        self.send("Page.navigate", {"url": url})

    def eval(self, expression: str, context: int | None = None):
        params = {"expression": expression, "returnByValue": True, "awaitPromise": True}
        if context is not None:
            params["contextId"] = context
        reply = self.send("Runtime.evaluate", params)
        if "exceptionDetails" in reply:
            raise AssertionError(f"JavaScript failed: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 20, message: str | None = None):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.eval(expression)
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(message or f"timed out waiting for: {expression}")

    def frame_texts(self) -> list[dict]:
        """Text and table count of each child frame (the report shows HTML results in an iframe)."""
        frames = self.send("Page.getFrameTree")["frameTree"].get("childFrames", [])
        texts = []
        for frame in frames:
            context = self.send("Page.createIsolatedWorld", {"frameId": frame["frame"]["id"]})[
                "executionContextId"
            ]
            texts.append(
                self.eval(
                    "({text: document.body ? document.body.innerText : '', tables: "
                    "Array.from(document.querySelectorAll('table')).map(t => t.innerText)})",
                    context,
                )
            )
        return texts

    def wait_for_frames(self, timeout: float = 20) -> list[dict]:
        deadline = time.monotonic() + timeout
        while True:
            texts = self.frame_texts()
            if (texts and all(t["text"].strip() for t in texts)) or time.monotonic() > deadline:
                return texts
            time.sleep(0.2)

    def screenshot(self, path: Path) -> Path:
        path.write_bytes(
            base64.b64decode(self.send("Page.captureScreenshot", {"format": "png"})["data"])
        )
        return path

    def close(self) -> None:
        try:
            self.send("Browser.close", session=False, timeout=10)
            self.process.wait(timeout=10)
        except (RuntimeError, TimeoutError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        os.close(self._write)
        os.close(self._read)


# Clicks in the report's own UI, as a reader would. Results are table rows with an "eye" (view)
# and an "information" button; a view button whose href is a data URI is a download, not a view.
CLICK_MENU = """(label => {
  const link = Array.from(document.querySelectorAll('#app a'))
    .find(a => a.textContent.trim() === label);
  if (link) link.click();
  return !!link;
})(%s)"""
GO_HOME = """(() => {
  const home = document.querySelector('#app nav ol a');
  if (home) home.click();
  return !!home;
})()"""
RESULT_ROWS = """Array.from(document.querySelectorAll('#app a[iconname="eye"]'))
  .map(a => a.closest('tr'))
  .filter(Boolean)
  .map(tr => ({
    labels: Array.from(tr.querySelectorAll('td')).map(td => td.innerText.trim()).filter(t => t),
    download: tr.querySelector('a[iconname="eye"]').getAttribute('href') !== '#'}))"""
CLICK_ROW_BUTTON = """((index, icon) => {
  const rows = Array.from(document.querySelectorAll('#app a[iconname="eye"]'))
    .map(a => a.closest('tr')).filter(Boolean);
  rows[index].querySelector(`a[iconname="${icon}"]`).click();
  return true;
})(%d, %s)"""
SHOWN_IMAGE = """(() => {
  const img = Array.from(document.querySelectorAll('#app img'))
    .find(i => i.src.startsWith('data:image/png'));
  if (!img || !img.complete || img.naturalWidth === 0) return null;
  return {filename: (img.src.match(/filename=([^;]+);/) || [])[1],
          width: img.naturalWidth, height: img.naturalHeight,
          shown: img.getBoundingClientRect().width};
})()"""
CAPTION = """Array.from(document.querySelectorAll('#app li.prose')).map(li => ({
  text: li.innerText, tables: Array.from(li.querySelectorAll('table')).map(t => t.innerText)}))"""


def read_report(browser: Chromium, report: Path, shots: Path) -> dict:
    """Click through every category and result; return what the page showed."""
    browser.open(report.resolve().as_uri())
    browser.wait_for("document.querySelectorAll('#app a').length > 0")
    seen = {
        "categories": browser.eval("Object.keys(categories).sort()"),
        "images": {},
        "tables": [],
        "rows": {},
        "frames": [],
        "captions": {},
    }
    browser.screenshot(shots / "report_start.png")
    for category in seen["categories"]:
        browser.eval(GO_HOME)
        assert browser.eval(CLICK_MENU % json.dumps(category)), (
            f"no menu entry for category {category}"
        )
        rows = browser.wait_for(RESULT_ROWS)
        seen["rows"][category] = [row["labels"] for row in rows]
        for index, row in enumerate(rows):
            key = f"{category}: {' / '.join(row['labels'])}"
            if not row["download"]:
                browser.eval(CLICK_ROW_BUTTON % (index, json.dumps("eye")))
                image = browser.wait_for(
                    SHOWN_IMAGE + " || (document.querySelector('#app iframe') ? 'frame' : null)"
                )
                if image == "frame":
                    seen["frames"].extend(browser.wait_for_frames())
                    browser.screenshot(shots / f"report_frame_{category}_{index}.png")
                else:
                    seen["images"][image["filename"]] = image
                    browser.screenshot(shots / f"report_{Path(image['filename']).stem}.png")
            browser.eval(CLICK_ROW_BUTTON % (index, json.dumps("information-circle")))
            captions = browser.wait_for(CAPTION, message=f"no caption shown for {key}")
            seen["captions"][key] = captions
            seen["tables"].extend(table for caption in captions for table in caption["tables"])
            if category == "Comparison":
                browser.screenshot(shots / "report_comparison.png")
            assert browser.eval(
                CLICK_MENU % json.dumps(category)
            )  # the breadcrumb back to the list
            browser.wait_for(RESULT_ROWS)
    seen["tables"].extend(table for frame in seen["frames"] for table in frame["tables"])
    return seen


@pytest.fixture(scope="module")
def report_html(tiny_run) -> Path:
    """The HTML report of the shared tiny demo run (tests/conftest.py), added to that run."""
    chromium_binary()  # skip (or fail) before the run, not after
    workdir = tiny_run("tensorflow")
    snakemake(workdir, "--report", "results/report.html", configfile=workdir / "tiny.yaml")
    return workdir / "results" / "report.html"


@pytest.fixture(scope="module")
def rendered(report_html, tmp_path_factory) -> dict:
    shots = tmp_path_factory.mktemp("screenshots")
    browser = Chromium(chromium_binary(), tmp_path_factory.mktemp("chromium-profile"))
    try:
        seen = read_report(browser, report_html, shots)
    finally:
        browser.close()
    seen["screenshots"] = shots
    return seen


def test_report_has_the_five_categories(rendered):
    assert rendered["categories"] == [
        "Comparison",
        "Evaluation",
        "Explanations",
        "Model card",
        "Training curves",
    ]


def test_the_model_card_is_shown_with_its_use_results_and_failure_modes(rendered):
    cards = [frame["text"] for frame in rendered["frames"] if "Model card" in frame["text"]]
    assert cards, "no rendered model card"
    assert "research only" in cards[0] and "Known failure modes" in cards[0]
    assert any("Test set" in table and "AUC" in table for table in rendered["tables"])


def test_every_figure_is_shown_as_a_decoded_image(rendered):
    assert set(rendered["images"]) == EXPECTED_FIGURES
    for name, image in rendered["images"].items():
        assert image["width"] > 200 and image["height"] > 200 and image["shown"] > 100, name


def test_the_comparison_table_is_rendered_with_the_published_rows(rendered):
    tables = [table for table in rendered["tables"] if "Paper, Table 1" in table]
    assert tables, f"no rendered table with the paper's rows; captions: {rendered['captions']}"
    table = tables[0]
    assert "Hadad et al." in table and "busflow (this run)" in table
    for model in MODELS:
        assert model in table


def test_explanations_are_labelled_by_model_and_called_score_cam(rendered):
    assert sorted(labels[0] for labels in rendered["rows"]["Explanations"]) == sorted(MODELS)
    captions = [
        c for key, cs in rendered["captions"].items() if key.startswith("Explanations") for c in cs
    ]
    assert len(captions) == len(MODELS) and all(
        "Score-CAM" in c["text"] and "not Grad-CAM" in c["text"] for c in captions
    )


def test_screenshots_show_a_rendered_page(rendered):
    from PIL import Image

    for name in ("report_start.png", "report_comparison.png", "report_cam_finetune.png"):
        with Image.open(rendered["screenshots"] / name) as shot:
            assert shot.size == (1400, 900), name
            colours = shot.convert("RGB").getcolors(maxcolors=1 << 16)
            assert colours is None or len(colours) > 50, f"{name} looks blank"
