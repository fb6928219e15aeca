"""The web console over HTTP and WebSocket: the key model, live frames, moves, refusals.

A real session, the console served by uvicorn on a free loopback port, real HTTP and
WebSocket clients (the page itself is tested in a browser: ``test_console_browser``).
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from console_support import CONSOLE_KEY, ServedConsole, served_console
from PIL import Image
from preview_support import well_center_um
from websockets.sync.client import connect

from hcs_devices.config import MicroscopeConfig

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
