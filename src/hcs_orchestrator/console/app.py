"""The console's web application: one page, a JSON API for commands, a WebSocket of frames.

Commands (live view, moves, channel, exposure, intensity, snap, acquire) always need the
API key, as writing to ``hcs serve`` does; reading (the state, the frame stream) needs
it too unless the console was started with ``public_read``. The key comes in an
``Authorization: Apikey KEY`` header, or as ``?api_key=KEY`` (browsers cannot set
headers on a WebSocket). Every command goes through
:class:`~hcs_orchestrator.live_control.LiveControl`, so through the RunEngine; a
command refused because an acquisition owns the microscope answers 409 with the
``busy`` message, bad input 422 naming the field and the allowed range.

Frames never pass through the RunEngine: the WebSocket reads the camera's preview tap.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from importlib.resources import files
from typing import Any

from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from hcs_devices.navigation import Command, MoveTo, SetChannel, SetExposure, SetIntensity
from hcs_devices.ownership import BusyError
from hcs_orchestrator.console.frames import Contrast, SharedEncoder
from hcs_orchestrator.console.overview import Overview
from hcs_orchestrator.console.panels import Panels
from hcs_orchestrator.console.plate import PlateMap, RunTracker
from hcs_orchestrator.live_control import LiveControl
from hcs_plans import spec_from_data


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LiveStart(_Body):
    """Start live view, optionally with a channel and an exposure."""

    channel: str = ""
    exposure_ms: float = Field(0.0, ge=0.0)


class Move(_Body):
    """Move the stage to a well's centre, or to x, y (um)."""

    well: str = ""
    x_um: float | None = None
    y_um: float | None = None


class ChannelBody(_Body):
    """Set a configured channel up."""

    name: str


class ExposureBody(_Body):
    """Set the exposure (ms)."""

    exposure_ms: float


class IntensityBody(_Body):
    """Set the light's intensity (%)."""

    intensity_percent: float


class CalibrateBody(_Body):
    """The well centred under the objective now."""

    well: str = "A1"


class AcquireBody(_Body):
    """Acquire wells of the plate: a square grid of fields per well, these channels."""

    wells: list[str] = Field(min_length=1)
    fields_per_side: int = Field(1, ge=1, le=10)
    channels: list[str] = Field(default_factory=lambda: ["DAPI"], min_length=1)


class Unauthorized(Exception):
    """No API key, or a wrong one."""


def build_console_app(
    control: LiveControl,
    *,
    api_key: str,
    public_read: bool = False,
    plate: PlateMap | None = None,
    tracker: RunTracker | None = None,
    panels: Panels | None = None,
) -> FastAPI:
    """The console application for one microscope's :class:`LiveControl`.

    Args:
        control: live view, navigation and acquisitions, through the RunEngine.
        api_key: the key commands (and reads, unless ``public_read``) need.
        public_read: let anyone who can connect watch, keyless (commands still need it).
        plate: the plate's layout on the stage (a 96-well plate by default).
        tracker: follows the RunEngine's documents for run progress (subscribe it).
        panels: the lab's queue, MERFISH rounds and the newest overview (none by default).
    """
    layout: PlateMap = plate or PlateMap()
    tracker = tracker or RunTracker()
    panels = panels or Panels()
    app = FastAPI(title="hcs console", docs_url=None, redoc_url=None, openapi_url=None)
    encoder = SharedEncoder()
    page = files("hcs_orchestrator.console").joinpath("static/index.html").read_text("utf-8")

    def key_of(headers: Any, query: Any) -> str:
        header = str(headers.get("authorization", ""))
        if header.lower().startswith("apikey "):
            return header[7:].strip()
        return str(query.get("api_key", ""))

    def check(request: Request | WebSocket, *, command: bool) -> None:
        if not command and public_read:
            return
        given = key_of(request.headers, request.query_params)
        if not (given and secrets.compare_digest(given.encode(), api_key.encode())):
            raise Unauthorized("this needs the console's API key")

    @app.exception_handler(Unauthorized)
    async def unauthorized(request: Request, exc: Unauthorized) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=401)

    @app.exception_handler(BusyError)
    async def busy(request: Request, exc: BusyError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=409)

    @app.exception_handler(ValueError)
    async def bad_value(request: Request, exc: ValueError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=422)

    @app.exception_handler(KeyError)
    async def bad_key(request: Request, exc: KeyError) -> JSONResponse:
        return JSONResponse({"error": str(exc.args[0]) if exc.args else str(exc)}, 422)

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        return page

    @app.get("/api/state")
    async def state(request: Request) -> dict[str, Any]:
        check(request, command=False)
        return await _state(control, layout, tracker)

    def navigate(request: Request, command: Command) -> dict[str, Any]:
        check(request, command=True)
        control.navigate(command)
        return {"ok": True, "state": control.state}

    @app.post("/api/live/start")
    def live_start(request: Request, body: LiveStart) -> dict[str, Any]:
        check(request, command=True)
        control.start_live(body.channel, body.exposure_ms)
        return {"ok": True, "state": control.state}

    @app.post("/api/live/stop")
    def live_stop(request: Request) -> dict[str, Any]:
        check(request, command=True)
        control.stop_live()
        return {"ok": True, "state": control.state}

    @app.post("/api/move")
    def move(request: Request, body: Move) -> dict[str, Any]:
        check(request, command=True)
        if body.well:
            x, y = layout.well_center_um(body.well)
        elif body.x_um is not None and body.y_um is not None:
            x, y = body.x_um, body.y_um
        else:
            raise ValueError("move needs a well, or both x_um and y_um")
        return navigate(request, MoveTo(x, y))

    @app.post("/api/channel")
    def channel(request: Request, body: ChannelBody) -> dict[str, Any]:
        return navigate(request, SetChannel(body.name))

    @app.post("/api/exposure")
    def exposure(request: Request, body: ExposureBody) -> dict[str, Any]:
        return navigate(request, SetExposure(body.exposure_ms))

    @app.post("/api/intensity")
    def intensity(request: Request, body: IntensityBody) -> dict[str, Any]:
        return navigate(request, SetIntensity(body.intensity_percent))

    @app.post("/api/snap")
    def snap(request: Request) -> dict[str, Any]:
        check(request, command=True)
        return {"ok": True, "run_uid": control.snap()}

    @app.post("/api/calibrate-a1")
    def calibrate_a1(request: Request, body: CalibrateBody) -> dict[str, Any]:
        nonlocal layout
        check(request, command=True)
        layout.well_center_um(body.well)  # a well the page's plate has, or 422
        a1 = control.calibrate_a1(body.well)
        layout = layout.with_a1(a1)
        return {"ok": True, "a1_center_um": list(a1), "plate": layout.as_dict()}

    @app.get("/api/queue")
    def queue(request: Request) -> dict[str, Any]:
        check(request, command=False)
        return panels.queue_view()

    @app.get("/api/merfish")
    def merfish(request: Request) -> dict[str, Any]:
        check(request, command=False)
        return panels.merfish_view()

    def newest_overview() -> Overview | None:
        if panels.overview is None:
            return None
        return panels.overview.latest(refresh=control.state in ("idle", "live"))

    @app.get("/api/overview")
    def overview(request: Request) -> dict[str, Any]:
        check(request, command=False)
        latest = newest_overview()
        if latest is None:
            return {"run_uid": "", "message": "no finished acquisition yet"}
        return {"run_uid": latest.run_uid, "exit_status": latest.exit_status}

    @app.get("/api/overview.png")
    def overview_png(request: Request) -> Response:
        check(request, command=False)
        latest = newest_overview()
        if latest is None:
            return JSONResponse({"error": "no finished acquisition yet"}, status_code=404)
        return Response(latest.png, media_type="image/png", headers={"Cache-Control": "no-store"})

    @app.post("/api/acquire")
    def acquire(request: Request, body: AcquireBody) -> dict[str, Any]:
        check(request, command=True)
        spec = plate_spec(layout, body)
        control.start_acquisition(spec)
        return {"ok": True, "state": control.state}

    @app.websocket("/ws/live")
    async def live_frames(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            check(websocket, command=False)
        except Unauthorized as exc:
            await websocket.close(code=4401, reason=str(exc))  # the page shows why
            return
        await stream_frames(websocket, control, encoder)

    return app


async def stream_frames(websocket: WebSocket, control: LiveControl, encoder: SharedEncoder) -> None:
    """Send the newest preview frame whenever the viewer is ready for one.

    The viewer may send ``{"low": L, "high": H}`` to set the contrast limits (0, 0:
    automatic). A viewer slower than the camera skips frames; the camera never waits.
    """
    viewer = control.microscope.camera.preview.subscribe()
    contrast = Contrast()
    loop = asyncio.get_running_loop()

    async def listen() -> None:
        nonlocal contrast
        while True:
            message = await websocket.receive_json()
            with contextlib.suppress(ValueError, TypeError):
                contrast = Contrast(int(message.get("low", 0)), int(message.get("high", 0)))

    listener = asyncio.create_task(listen())
    try:
        while not listener.done():
            frame = await viewer.aget(timeout_s=0.5)
            if frame is None:
                continue
            message = await loop.run_in_executor(None, encoder, frame, contrast)
            await websocket.send_json(message)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        viewer.close()
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
            await listener


async def _state(control: LiveControl, plate: PlateMap, tracker: RunTracker) -> dict[str, Any]:
    """What the page shows besides the image."""
    latest = control.microscope.camera.preview.latest
    error = control.last_error
    return {
        "state": control.state,
        "frame": latest.meta.as_dict() if latest is not None else None,
        "channels": [c.name for c in control.microscope.config.channels],
        "plate": plate.as_dict(),
        "run": tracker.snapshot(),
        "last_error": f"{type(error).__name__}: {error}" if error is not None else "",
    }


def plate_spec(plate: PlateMap, body: AcquireBody) -> Any:
    """An acquisition spec for wells of the plate (checked against the plate first)."""
    rows, columns = [], []
    for well in body.wells:
        x, y = plate.well_center_um(well)
        rows.append(round((y - plate.a1_center_um[1]) / plate.pitch_um))
        columns.append(round((x - plate.a1_center_um[0]) / plate.pitch_um))
    return spec_from_data(
        {
            "experiment_id": "console",
            "sequence": {
                "axis_order": "tpgcz",
                "stage_positions": {
                    "plate": plate.rows * plate.columns,
                    "a1_center_xy": list(plate.a1_center_um),
                    "selected_wells": [rows, columns],
                    "well_points_plan": {
                        "rows": body.fields_per_side,
                        "columns": body.fields_per_side,
                        "overlap": 0.0,
                    },
                },
                "channels": [{"config": name} for name in body.channels],
            },
        }
    )
