"""The console page in real headless Chromium: live frame, a click that moves, a refusal.

Screenshots are kept in the test's directory (``tmp_path``), named after each step.
Skipped only when Chromium is not installed (``./dev`` installs it).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from cdp_browser import Browser, chromium_path
from console_support import CONSOLE_KEY, ServedConsole, served_console
from PIL import Image
from preview_support import one_well_spec, well_center_um

from hcs_devices.config import MicroscopeConfig

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(chromium_path() is None, reason="chromium is not installed"),
]


@pytest.fixture
def served(fast_profile_config: MicroscopeConfig, tmp_path: Path) -> Iterator[ServedConsole]:
    with served_console(fast_profile_config, tmp_path / "data") as served:
        yield served


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    browser = Browser(tmp_path / "chromium-profile")
    yield browser
    browser.close()


def live_image_pixels(png: bytes, box: list[float], scale: float) -> np.ndarray:
    """The pixels of the live image's rectangle in a screenshot."""
    image = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
    x, y, w, h = (round(v * scale) for v in box)
    return image[y : y + h, x : x + w]


def test_console_page_shows_live_frames_moves_on_a_click_and_says_why_it_refuses(
    served: ServedConsole, browser: Browser, tmp_path: Path
) -> None:
    control = served.console.control
    control.start_live(channel="DAPI")
    browser.navigate(f"{served.url}/#key={CONSOLE_KEY}")

    # The page loads and shows a live frame.
    browser.wait_for("document.getElementById('meta').textContent.includes('live DAPI')")
    browser.wait_for("document.getElementById('live').naturalWidth > 0")
    box = browser.evaluate(
        "(() => { const r = document.getElementById('live').getBoundingClientRect();"
        " return [r.x, r.y, r.width, r.height]; })()"
    )
    scale = browser.evaluate("window.devicePixelRatio")
    png = browser.screenshot(tmp_path / "1-live.png")
    pixels = live_image_pixels(png, box, scale)
    assert pixels.size > 0 and pixels.std() > 5.0, "the live image is blank"

    # A click on a well moves the emulated stage there (through live view).
    browser.wait_for("document.getElementById('well-C4') !== null")
    browser.click("#well-C4")
    browser.wait_for("document.getElementById('message').textContent === 'moved to C4'")
    assert served.harness.sim.xy_um() == pytest.approx(well_center_um(2, 3))
    browser.wait_for("document.getElementById('well-C4').classList.contains('here')")
    browser.screenshot(tmp_path / "2-moved-to-C4.png")
    # The arrows move by the step from where the newest frame was taken: once a frame
    # taken at C4's centre is the page's newest (frames taken on the way are in C4 too).
    c4_x, c4_y = well_center_um(2, 3)
    browser.wait_for(
        f"here !== null && Math.abs(here[0] - {c4_x}) < 0.05 && Math.abs(here[1] - {c4_y}) < 0.05"
    )
    browser.click("#right")
    browser.wait_for("document.getElementById('message').textContent === 'done'")
    assert served.harness.sim.xy_um() == pytest.approx((c4_x + 100.0, c4_y))

    # During an acquisition the click is refused, and the page says why.
    control.start_acquisition(one_well_spec(5, ("DAPI", "GFP", "Cy3")))
    browser.wait_for("document.getElementById('state').textContent === 'acquisition'")
    browser.click("#well-H12")
    message = browser.wait_for(
        "document.getElementById('message').className === 'error'"
        " && document.getElementById('message').textContent"
    )
    assert message.startswith("refused: busy:")
    browser.screenshot(tmp_path / "3-refused-during-acquisition.png")
    assert served.harness.sim.xy_um() != pytest.approx(well_center_um(7, 11))
    control.wait(120.0)
    assert control.last_error is None

    # The finished run's plate overview appears; the panels say there is no lab queue.
    served.harness.session.flush()
    browser.wait_for("document.getElementById('overview').naturalWidth > 0", timeout_s=30)
    caption = browser.evaluate("document.getElementById('overview-caption').textContent")
    assert caption == f"run {control.last_uid[:8]} (success)"
    queue = browser.evaluate("document.getElementById('queue').textContent")
    assert queue == "embedded mode: no queue"

    # "Set plate position here" takes the stage's position as A1's centre.
    browser.click("#calibrate")
    message = browser.wait_for(
        "document.getElementById('message').textContent.startsWith('A1 is here')"
        " && document.getElementById('message').textContent"
    )
    x, y = served.harness.sim.xy_um()
    assert message == f"A1 is here: A1 centre now x {x:.1f}, y {y:.1f} um"
    browser.wait_for(f"document.getElementById('a1').textContent.includes('x {x:.1f}')")
    browser.screenshot(tmp_path / "4-overview-and-calibration.png")
    assert sorted(p.name for p in tmp_path.glob("*.png")) == [
        "1-live.png",
        "2-moved-to-C4.png",
        "3-refused-during-acquisition.png",
        "4-overview-and-calibration.png",
    ]
