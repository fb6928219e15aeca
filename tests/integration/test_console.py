"""The web console over HTTP and WebSocket: the key model, live frames, moves, refusals.

A real session, the console served by uvicorn on a free loopback port, real HTTP and
WebSocket clients (the page itself is tested in a browser: ``test_console_browser``).
"""

from __future__ import annotations

import base64
import io
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from console_support import CONSOLE_KEY, ServedConsole, served_console
from PIL import Image
from preview_support import one_well_spec, well_center_um
from websockets.sync.client import connect

from hcs_devices.camera.shared_frame import preview_segments
from hcs_devices.config import MicroscopeConfig
from hcs_orchestrator.console.overview import WELL_PX
from hcs_orchestrator.viewers.shared_stream import SharedStream
from hcs_plans.plate_calibration import PLATE_CALIBRATION_STREAM
from hcs_storage.overview import render_overview
from hcs_storage.query import stream_columns

pytestmark = pytest.mark.slow  # system tests of a second or more each

AUTH = {"Authorization": f"Apikey {CONSOLE_KEY}"}


@pytest.fixture(scope="module")
def served(
    fast_profile_config: MicroscopeConfig, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedConsole]:
    with served_console(fast_profile_config, tmp_path_factory.mktemp("console")) as served:
        yield served


@pytest.fixture
def http(served: ServedConsole) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served.url, timeout=60.0) as client:
        yield client
    served.console.control.stop_live()
    served.console.control.wait(120.0)


def test_console_refuses_commands_and_reads_without_the_key(
    served: ServedConsole, http: httpx.Client
) -> None:
    before = served.harness.moves()
    for headers in ({}, {"Authorization": "Apikey wrongkey0123456789"}):
        answer = http.post("/api/move", json={"well": "B3"}, headers=headers)
        assert answer.status_code == 401 and "API key" in answer.json()["error"]
        assert http.get("/api/state", headers=headers).status_code == 401
    assert http.post("/api/live/start", json={}).status_code == 401
    assert served.harness.moves() == before
    assert served.console.control.state == "idle"
    assert http.get("/").status_code == 200  # the page itself holds no data


def test_console_reads_are_public_only_when_configured_and_commands_never(
    fast_profile_config: MicroscopeConfig, tmp_path: Path
) -> None:
    with (
        served_console(fast_profile_config, tmp_path, public_read=True) as public,
        httpx.Client(base_url=public.url, timeout=60.0) as client,
    ):
        assert client.get("/api/state").status_code == 200
        assert client.post("/api/move", json={"well": "B3"}).status_code == 401


def test_live_frames_arrive_over_the_websocket_with_their_metadata(
    served: ServedConsole, http: httpx.Client
) -> None:
    assert http.post("/api/live/start", json={"channel": "GFP"}, headers=AUTH).status_code == 200
    with pytest.raises(Exception, match="4401"), connect(served.ws_url) as refused:
        refused.recv(timeout=10)
    with connect(f"{served.ws_url}?api_key={CONSOLE_KEY}") as ws:
        ws.send(json.dumps({"low": 100, "high": 4000}))
        messages = [json.loads(ws.recv(timeout=30)) for _ in range(3)]
    last = messages[-1]
    assert last["meta"]["mode"] == "live" and last["meta"]["channel"] == "GFP"
    assert last["contrast"] == [100.0, 4000.0]
    image = Image.open(io.BytesIO(base64.b64decode(last["jpeg"])))
    assert image.size == (last["width"], last["height"]) == (256, 256)
    pixels = np.asarray(image)
    assert int(pixels.max()) > int(pixels.min())


def test_a_click_on_a_well_moves_the_stage_there_through_live_view(
    served: ServedConsole, http: httpx.Client
) -> None:
    http.post("/api/live/start", json={}, headers=AUTH)
    answer = http.post("/api/move", json={"well": "C4"}, headers=AUTH)
    assert answer.status_code == 200, answer.text
    assert served.harness.sim.xy_um() == pytest.approx(well_center_um(2, 3))
    assert served.console.control.state == "live"


@pytest.mark.parametrize(
    ("path", "body", "says"),
    [
        ("/api/move", {"well": "Z99"}, "well 'Z99' is not on the plate (A1 to H12)"),
        ("/api/move", {"x_um": -5.0, "y_um": 0.0}, "x_um -5.0 is outside the stage's soft"),
        ("/api/exposure", {"exposure_ms": 1e9}, "exposure_ms 1000000000.0 is outside"),
        ("/api/channel", {"name": "DAPY"}, "unknown channel 'DAPY'"),
        ("/api/move", {"well": "B3", "speed": 2}, "speed"),
    ],
)
def test_console_refuses_bad_input_naming_the_field_and_moves_nothing(
    served: ServedConsole, http: httpx.Client, path: str, body: dict[str, object], says: str
) -> None:
    before = served.harness.moves()
    answer = http.post(path, json=body, headers=AUTH)
    assert answer.status_code == 422
    assert says in answer.text
    assert served.harness.moves() == before


def test_a_move_during_an_acquisition_is_refused_as_busy_and_progress_is_shown(
    served: ServedConsole, http: httpx.Client
) -> None:
    answer = http.post(
        "/api/acquire",
        json={"wells": ["B2", "B3"], "fields_per_side": 3, "channels": ["DAPI", "GFP"]},
        headers=AUTH,
    )
    assert answer.status_code == 200, answer.text
    refused = http.post("/api/move", json={"well": "H12"}, headers=AUTH)
    assert refused.status_code == 409
    assert refused.json()["error"].startswith("busy:")
    served.console.control.wait(120.0)
    state = http.get("/api/state", headers=AUTH).json()
    assert state["run"]["images"] == state["run"]["total"] == 36
    assert state["run"]["acquired_wells"] == ["B2", "B3"]
    assert state["run"]["exit_status"] == "success"
    assert served.harness.sim.xy_um() != pytest.approx(well_center_um(7, 11))


def test_calibrate_a1_takes_the_stage_position_as_the_wells_centre_and_the_plate_map_follows(
    served: ServedConsole, http: httpx.Client
) -> None:
    http.post("/api/live/start", json={}, headers=AUTH)
    x, y = well_center_um(2, 3)
    moved = http.post("/api/move", json={"x_um": x + 150.0, "y_um": y - 40.0}, headers=AUTH)
    assert moved.status_code == 200, moved.text
    answer = http.post("/api/calibrate-a1", json={"well": "C4"}, headers=AUTH)
    assert answer.status_code == 200, answer.text
    a1 = answer.json()["a1_center_um"]
    # C4 is 3 columns right of A1 and 2 rows down, 9 mm apart on a 96-well plate.
    assert a1 == pytest.approx([x + 150.0 - 3 * 9000.0, y - 40.0 - 2 * 9000.0])
    assert served.console.control.state == "live"  # live view went on after it
    state = http.get("/api/state", headers=AUTH).json()
    assert state["plate"]["a1_center_um"] == pytest.approx(a1)
    assert state["run"]["run_uid"] != served.console.control.last_uid  # not an acquisition

    # The calibration is a run of its own, recorded in the catalog.
    session = served.harness.session
    session.flush()
    run = session.catalog[served.console.control.last_uid]
    assert run.metadata["start"]["plan_name"] == "calibrate_plate_a1"
    recorded = stream_columns(run, PLATE_CALIBRATION_STREAM, "plate_calibration-")
    assert str(recorded["well"][0]) == "C4"
    assert [float(recorded["a1_center_x_um"][0]), float(recorded["a1_center_y_um"][0])] == (
        pytest.approx(a1)
    )

    # A click on C4 now goes where C4 was calibrated to be.
    http.post("/api/move", json={"well": "A1"}, headers=AUTH)
    assert http.post("/api/move", json={"well": "C4"}, headers=AUTH).status_code == 200
    assert served.harness.sim.xy_um() == pytest.approx((x + 150.0, y - 40.0))
    # Put the plate back where the other tests expect it.
    http.post("/api/move", json={"well": "C4"}, headers=AUTH)
    http.post("/api/move", json={"x_um": x, "y_um": y}, headers=AUTH)
    assert http.post("/api/calibrate-a1", json={"well": "C4"}, headers=AUTH).status_code == 200


def test_calibrate_a1_refuses_a_well_off_the_plate_or_without_the_key_and_records_nothing(
    served: ServedConsole, http: httpx.Client
) -> None:
    before = len(served.harness.documents)
    refused = http.post("/api/calibrate-a1", json={"well": "Q42"}, headers=AUTH)
    assert refused.status_code == 422
    assert "well 'Q42' is not on the plate (A1 to H12)" in refused.json()["error"]
    assert http.post("/api/calibrate-a1", json={"well": "A1"}).status_code == 401
    assert len(served.harness.documents) == before


def test_the_console_serves_the_overview_of_the_newest_finished_acquisition(
    served: ServedConsole, http: httpx.Client
) -> None:
    control = served.console.control
    older = control.acquire(one_well_spec(1, ("DAPI",), well=(0, 0)))
    newest = control.acquire(one_well_spec(2, ("DAPI", "GFP"), well=(3, 5)))
    session = served.harness.session
    session.flush()

    described = http.get("/api/overview", headers=AUTH).json()
    assert described == {"run_uid": newest, "exit_status": "success"}
    assert older != newest
    answer = http.get(f"/api/overview.png?api_key={CONSOLE_KEY}")
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/png"
    served_png = np.asarray(Image.open(io.BytesIO(answer.content)).convert("RGB"))
    expected, layout = render_overview(session.catalog[newest], WELL_PX)
    assert list(layout.wells) == ["D6"]
    assert np.array_equal(served_png, np.asarray(expected.convert("RGB")))
    assert http.get("/api/overview.png").status_code == 401

    page = http.get("/").text
    assert "/api/overview.png" in page and 'id="overview"' in page


def test_the_console_says_embedded_mode_and_no_merfish_experiment_without_them(
    served: ServedConsole, http: httpx.Client
) -> None:
    assert http.get("/api/queue", headers=AUTH).json() == {
        "mode": "embedded",
        "message": "embedded mode: no queue",
    }
    merfish = http.get("/api/merfish", headers=AUTH).json()
    assert merfish["experiment"] is None
    assert merfish["message"] == "no MERFISH experiment in the data directory"
    assert http.get("/api/queue").status_code == 401
    assert http.get("/api/merfish").status_code == 401


def test_console_publishes_live_frames_in_shared_memory_and_removes_the_segment_on_close(
    fast_profile_config: MicroscopeConfig, tmp_path: Path
) -> None:
    with served_console(fast_profile_config, tmp_path, shared_memory=True) as served:
        slot = served.console.slot
        assert slot is not None and slot.name in preview_segments()
        pause = threading.Event()
        with SharedStream(slot.name) as stream:
            served.console.control.start_live(channel="GFP")
            got = None
            for _ in range(200):
                got = stream.poll()
                if got is not None and got[1].mode == "live":
                    break
                pause.wait(0.05)
            served.console.control.stop_live()
        assert got is not None
        pixels, meta = got
        assert (meta.channel, meta.mode) == ("GFP", "live")
        latest = served.console.control.microscope.camera.preview.latest
        assert latest is not None and pixels.shape == latest.pixels.shape
        assert int(pixels.max()) > int(pixels.min())
    assert slot.name not in preview_segments()
