"""The simulated microscope behaves like a microscope, driven by a real RunEngine.

Every test builds the default microscope with a small sensor (``small_config``), runs
plans on a real RunEngine, and reads the frames back from the TIFF files the
StreamResource/StreamDatum documents point at. Assertions are about physics and
behaviour (signal in the right channel, focus, overlap, noise statistics, document
shape), never about values copied from the renderer.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse
from urllib.request import url2pathname

import bluesky.plan_stubs as bps
import bluesky.plans as bp
import bluesky.preprocessors as bpp
import numpy as np
import pytest
import tifffile
import yaml
from bluesky import RunEngine
from bluesky.protocols import Readable
from bluesky.run_engine import RunEngineResult
from bluesky.utils import FailedStatus, MsgGenerator
from ophyd_async.core import TriggerInfo

from hcs_devices.config import ChannelConfig, FramesConfig, MicroscopeConfig
from hcs_devices.factory import Microscope, build_microscope
from hcs_devices.sim import optics_of, specimen_of
from hcs_devices.sim.specimen import CYTOPLASM, NUCLEI, SPOTS_A, SPOTS_B, Specimen

PROFILE = (
    Path(__file__).resolve().parents[2] / "src" / "hcs_orchestrator" / "data" / "microscope.yaml"
)
CHANNEL_NAMES = [c["name"] for c in yaml.safe_load(PROFILE.read_text())["channels"]]
Documents = list[tuple[str, dict[str, Any]]]
T = TypeVar("T")


# --- plans and readers --------------------------------------------------------------
def use_channel(m: Microscope, channel: ChannelConfig) -> MsgGenerator[None]:
    """Filter, source, intensity and exposure of a channel preset; light on."""
    yield from bps.mv(
        m.filter_wheel,
        channel.filter_position,
        m.illumination.source,
        channel.source,
        m.illumination.intensity_percent,
        channel.intensity_percent,
        m.camera.exposure_ms,
        channel.exposure_ms,
    )
    yield from bps.mv(m.illumination.on, True)


def focus_on_surface(m: Microscope, dz_um: float = 0.0) -> MsgGenerator[None]:
    """Move Z so the focal plane is ``dz_um`` above the sample surface under the objective."""
    specimen = _specimen(m)
    x = yield from bps.rd(m.stage_.x)
    y = yield from bps.rd(m.stage_.y)
    yield from bps.mv(m.stage_.z, specimen.surface_z_um(x, y) + dz_um)


def z_series(m: Microscope, detector: Readable, z_um: list[float]) -> MsgGenerator[None]:
    """One event per Z position: move, then trigger and read ``detector``."""

    @bpp.run_decorator()
    def inner() -> MsgGenerator[None]:
        for z in z_um:
            yield from bps.mv(m.stage_.z, z)
            yield from bps.trigger_and_read([detector, m.stage_.z])

    yield from inner()


def run(RE: RunEngine, plan: MsgGenerator[T]) -> T:
    """Run a plan and return what it returned (e.g. ``bps.rd``)."""
    result = RE(plan)
    assert isinstance(result, RunEngineResult)
    return result.plan_result


def frame_files(documents: Documents) -> list[Path]:
    """The frame files the StreamResource/StreamDatum documents point at, in order."""
    resources = {d["uid"]: d for n, d in documents if n == "stream_resource"}
    files: list[Path] = []
    for name, datum in documents:
        if name != "stream_datum":
            continue
        resource = resources[datum["stream_resource"]]
        assert resource["mimetype"] == "multipart/related;type=image/tiff"
        directory = Path(url2pathname(urlparse(resource["uri"]).path))
        template = resource["parameters"]["template"]
        indices = datum["indices"]
        files += [directory / template.format(i) for i in range(indices["start"], indices["stop"])]
    return files


def snap(RE: RunEngine, documents: Documents, m: Microscope) -> np.ndarray:
    """Take one frame with ``bp.count`` and read it back from its TIFF file."""
    first = len(documents)
    RE(bp.count([m.camera]))
    files = frame_files(documents[first:])
    assert len(files) == 1, files
    return tifffile.imread(files[0])


def _specimen(m: Microscope) -> Specimen:
    return specimen_of(m)


def _offset_free(frame: np.ndarray, m: Microscope) -> np.ndarray:
    return frame.astype(np.float64) - m.config.camera.offset_adu


# --- image measures -----------------------------------------------------------------
def normalised_variance(frame: np.ndarray) -> float:
    """var(I) / mean(I) of an offset-subtracted frame: a standard focus metric."""
    return float(frame.var() / frame.mean())


def brenner(frame: np.ndarray) -> float:
    """Brenner gradient: mean squared difference of pixels two columns apart, / mean^2."""
    diff = frame[:, 2:] - frame[:, :-2]
    return float((diff**2).mean() / frame.mean() ** 2)


def ncc(a: np.ndarray, b: np.ndarray) -> float:
    """Normalised cross-correlation of two equally shaped images (1 = identical up to gain)."""
    a = a - a.mean()
    b = b - b.mean()
    return float((a * b).sum() / math.sqrt((a * a).sum() * (b * b).sum()))


def best_shift(a: np.ndarray, b: np.ndarray, search_px: int = 3) -> tuple[int, int]:
    """The (rows, columns) shift of ``b`` against ``a`` that maximises their NCC."""
    m = search_px
    core = b[m:-m, m:-m]
    scores = {
        (dy, dx): ncc(a[m + dy : a.shape[0] - m + dy, m + dx : a.shape[1] - m + dx], core)
        for dy in range(-m, m + 1)
        for dx in range(-m, m + 1)
    }
    return max(scores, key=lambda k: scores[k])


def signal_at(m: Microscope, frame: np.ndarray, object_class: str) -> float:
    """Mean signal above the frame's median at the centres of one object class's blobs."""
    cfg = m.config
    pixel = cfg.pixel_size_um()
    height, width = frame.shape
    x0 = optics_of(m).x.position_now() - width / 2 * pixel
    y0 = optics_of(m).y.position_now() - height / 2 * pixel
    blobs = _specimen(m).blobs_in(object_class, x0, x0 + width * pixel, y0, y0 + height * pixel)
    assert blobs.x_um.size >= 20, f"too few {object_class} in view to measure"
    cols = np.clip(np.round((blobs.x_um - x0) / pixel).astype(int), 0, width - 1)
    rows = np.clip(np.round((blobs.y_um - y0) / pixel).astype(int), 0, height - 1)
    values = frame.astype(np.float64)
    return float((values[rows, cols] - np.median(values)).mean())


# --- tests --------------------------------------------------------------------------
@pytest.mark.parametrize("channel_name", CHANNEL_NAMES)
def test_camera_snap_writes_a_readable_tiff_frame_when_a_channel_is_configured(
    RE: RunEngine,
    documents: Documents,
    microscope: Microscope,
    channel_name: str,
) -> None:
    m = microscope
    channel = m.config.channel(channel_name)
    RE(bps.mv(m.illumination.on, False))
    dark = snap(RE, documents, m).astype(np.float64)
    RE(use_channel(m, channel))
    first = len(documents)
    frame = snap(RE, documents, m)

    cam = m.config.camera
    assert frame.shape == (cam.sensor_height_px, cam.sensor_width_px)
    assert frame.dtype == np.uint16
    # The settings a plan made are what the hardware has, and the run records them.
    assert optics_of(m).filter_wheel.current == channel.filter_position
    assert optics_of(m).illumination.selected == channel.source
    descriptor = next(d for n, d in documents[first:] if n == "descriptor")
    camera_settings = descriptor["configuration"]["camera"]["data"]
    assert camera_settings["camera-exposure_ms"] == channel.exposure_ms
    # Light reaches the camera: well above the dark frame's noise, in every channel.
    read_noise_adu = cam.read_noise_e / cam.gain_e_per_adu
    excess = frame.astype(np.float64) - dark.mean()
    assert np.percentile(excess, 99.9) > 20 * read_noise_adu
    assert excess.mean() > 50 * dark.std() / math.sqrt(dark.size)


@pytest.mark.slow
def test_camera_frames_show_each_dye_only_in_its_channel_when_channels_switch(
    RE: RunEngine,
    documents: Documents,
    microscope: Microscope,
) -> None:
    """DAPI lights nuclei, GFP the cytoplasm, Cy3 and Cy5 their own spots; BF absorbs."""
    m = microscope
    RE(focus_on_surface(m))
    frames: dict[str, np.ndarray] = {}
    for channel in m.config.channels:
        RE(use_channel(m, channel))
        frames[channel.name] = snap(RE, documents, m)

    def at(channel: str, object_class: str) -> float:
        return signal_at(m, frames[channel], object_class)

    # Nuclei stand out in DAPI; in GFP they are no brighter than the cytoplasm.
    dapi_contrast = at("DAPI", NUCLEI.name) / at("DAPI", CYTOPLASM.name)
    gfp_contrast = at("GFP", NUCLEI.name) / at("GFP", CYTOPLASM.name)
    assert dapi_contrast > 2.0
    assert gfp_contrast < 1.3
    assert at("GFP", CYTOPLASM.name) > 10 * at("Cy3", CYTOPLASM.name)
    # Each spot set shows only through its own excitation and emission band.
    assert at("Cy3", SPOTS_A.name) > 5 * at("Cy3", SPOTS_B.name)
    assert at("Cy5", SPOTS_B.name) > 5 * at("Cy5", SPOTS_A.name)
    # Brightfield is transmitted light: absorbing nuclei are darker than the background.
    assert at("BF", NUCLEI.name) < 0
    assert ncc(frames["DAPI"].astype(float), frames["Cy3"].astype(float)) < 0.5


@pytest.mark.slow
@pytest.mark.parametrize("channel_name", ["DAPI", "Cy3"])
def test_camera_frame_is_sharper_when_focused_on_the_specimen_surface(
    RE: RunEngine,
    documents: Documents,
    microscope: Microscope,
    channel_name: str,
) -> None:
    """Focus metrics: normalised variance var(I)/mean(I) and the Brenner gradient.

    Both are computed on offset-subtracted frames at the sample surface
    (``specimen.surface_z_um(x, y)``), 5 um above it and 20 um above and below it.
    """
    m = microscope
    RE(use_channel(m, m.config.channel(channel_name)))
    frames = {}
    for dz in (0.0, 5.0, 20.0, -20.0):
        RE(focus_on_surface(m, dz))
        frames[dz] = _offset_free(snap(RE, documents, m), m)
    nv = {dz: normalised_variance(f) for dz, f in frames.items()}
    gradient = {dz: brenner(f) for dz, f in frames.items()}
    assert nv[0.0] > nv[5.0] > nv[20.0]
    assert nv[0.0] > 5 * nv[20.0]
    assert nv[0.0] > 5 * nv[-20.0]
    assert gradient[0.0] > 5 * gradient[20.0]


@pytest.mark.parametrize("axis", ["x", "y"])
def test_camera_frames_agree_on_their_overlap_when_the_stage_moves_half_a_field(
    RE: RunEngine,
    documents: Documents,
    microscope: Microscope,
    axis: str,
) -> None:
    """Image columns follow plate x and rows plate y: a half-field move halves the view."""
    m = microscope
    RE(focus_on_surface(m))
    RE(use_channel(m, m.config.channel("DAPI")))
    motor = getattr(m.stage_, axis)
    start = run(RE, bps.rd(motor))
    before = snap(RE, documents, m).astype(np.float64)
    fov_x_um, fov_y_um = m.config.field_of_view_um()
    RE(bps.mv(motor, start + (fov_x_um if axis == "x" else fov_y_um) / 2))
    after = snap(RE, documents, m).astype(np.float64)

    if axis == "y":
        before, after = before.T, after.T
    half = before.shape[1] // 2
    shared_before, shared_after = before[:, half:], after[:, :half]
    assert ncc(shared_before, shared_after) > 0.95
    assert best_shift(shared_before, shared_after) == (0, 0)
    # The match is specific: the wrong halves, or halves 20 px apart, do not agree.
    assert abs(ncc(before[:, :half], after[:, :half])) < 0.3
    assert ncc(before[:, half:-20], after[:, 20:half]) < 0.8


def test_camera_dark_frame_shows_offset_and_read_noise_when_illumination_is_off(
    RE: RunEngine,
    documents: Documents,
    microscope: Microscope,
) -> None:
    m = microscope
    RE(use_channel(m, m.config.channel("DAPI")))
    RE(bps.mv(m.illumination.on, False))
    dark = snap(RE, documents, m).astype(np.float64)
    cam = m.config.camera
    read_noise_adu = cam.read_noise_e / cam.gain_e_per_adu
    # The mean of 262 144 pixels is known to ~0.01 ADU: any bias shows.
    assert dark.mean() == pytest.approx(cam.offset_adu, abs=0.05)
    assert dark.std() == pytest.approx(math.hypot(read_noise_adu, math.sqrt(1 / 12)), rel=0.03)
    # The noise is white: neighbouring pixels are uncorrelated.
    assert abs(ncc(dark[:, 1:], dark[:, :-1])) < 0.02


def test_camera_signal_scales_with_exposure_and_intensity_when_both_change(
    RE: RunEngine,
    documents: Documents,
    microscope: Microscope,
) -> None:
    m = microscope
    RE(focus_on_surface(m))
    channel = m.config.channel("GFP")
    RE(use_channel(m, channel))
    base = _offset_free(snap(RE, documents, m), m).mean()
    RE(bps.mv(m.camera.exposure_ms, 2 * channel.exposure_ms))
    longer = _offset_free(snap(RE, documents, m), m).mean()
    RE(bps.mv(m.illumination.intensity_percent, channel.intensity_percent / 2))
    dimmer = _offset_free(snap(RE, documents, m), m).mean()
    assert longer / base == pytest.approx(2.0, rel=0.03)
    assert dimmer / base == pytest.approx(1.0, rel=0.03)


def test_camera_roi_and_binning_frames_match_the_full_frame_when_set(
    RE: RunEngine,
    documents: Documents,
    microscope: Microscope,
) -> None:
    """An ROI images the same part of the sample; 2x2 binning sums 4 pixels per pixel."""
    m = microscope
    RE(focus_on_surface(m))
    RE(use_channel(m, m.config.channel("DAPI")))
    full = _offset_free(snap(RE, documents, m), m)
    n = full.shape[0]
    RE(bps.mv(m.camera.roi_x, n // 2, m.camera.roi_y, n // 4))
    RE(bps.mv(m.camera.roi_width, n // 2, m.camera.roi_height, n // 2))
    roi = _offset_free(snap(RE, documents, m), m)
    assert roi.shape == (n // 2, n // 2)
    assert ncc(roi, full[n // 4 : n // 4 + n // 2, n // 2 :]) > 0.95

    RE(bps.mv(m.camera.roi_x, 0, m.camera.roi_y, 0, m.camera.roi_width, n, m.camera.roi_height, n))
    RE(bps.mv(m.camera.binning, 2))
    binned = _offset_free(snap(RE, documents, m), m)
    assert binned.shape == (n // 2, n // 2)
    summed = full.reshape(n // 2, 2, n // 2, 2).sum(axis=(1, 3))
    assert binned.mean() == pytest.approx(summed.mean(), rel=0.05)
    assert ncc(binned, summed) > 0.95


def test_camera_refuses_settings_outside_its_range_when_a_plan_sets_them(
    RE: RunEngine,
    microscope: Microscope,
) -> None:
    m = microscope
    high = m.config.camera.max_exposure_ms
    with pytest.raises(FailedStatus, match=r"exposure_ms 20000.0 is outside the camera's range"):
        RE(bps.mv(m.camera.exposure_ms, 2 * high))
    with pytest.raises(FailedStatus, match=r"binning 3 is not one of \[1, 2, 4\]"):
        RE(bps.mv(m.camera.binning, 3))
    assert run(RE, bps.rd(m.camera.binning)) == 1


def burst_plan(
    m: Microscope, frames: int, *, collect_early: bool = False, fail_after_kickoff: bool = False
) -> MsgGenerator[None]:
    """A hardware-timed burst: prepare N frames, kick off once, complete, collect."""
    camera = m.camera

    @bpp.stage_decorator([camera])
    @bpp.run_decorator()
    def inner() -> MsgGenerator[None]:
        yield from bps.prepare(camera, TriggerInfo(number_of_events=frames), wait=True)
        yield from bps.declare_stream(camera, name="primary", collect=True)
        yield from bps.kickoff(camera, wait=True)
        if fail_after_kickoff:
            yield from bps.sleep(0.05)
            raise RuntimeError("the plan failed mid-burst")
        if collect_early:
            while (yield from bps.rd(camera.data.frames_written)) < 10:
                yield from bps.sleep(0.005)
            yield from bps.collect(camera, name="primary")
        yield from bps.complete(camera, wait=True)
        yield from bps.collect(camera, name="primary")

    yield from bps.mv(camera.roi_width, 128, camera.roi_height, 128, camera.exposure_ms, 1.0)
    yield from inner()


def test_camera_burst_writes_every_frame_with_one_resource_when_hardware_timed(
    RE: RunEngine,
    documents: Documents,
    microscope: Microscope,
) -> None:
    m = microscope
    RE(use_channel(m, m.config.channel("DAPI")))
    RE(burst_plan(m, 100))

    resources = [d for n, d in documents if n == "stream_resource"]
    datums = [d for n, d in documents if n == "stream_datum"]
    assert len(resources) == 1
    assert len(datums) == 1
    assert datums[0]["indices"] == {"start": 0, "stop": 100}
    assert datums[0]["seq_nums"] == {"start": 1, "stop": 101}
    assert datums[0]["stream_resource"] == resources[0]["uid"]
    descriptor = next(d for n, d in documents if n == "descriptor")
    assert descriptor["data_keys"]["camera"]["shape"] == [1, 128, 128]
    files = frame_files(documents)
    assert len(files) == 100
    assert sorted(p.name for p in files[0].parent.iterdir()) == [p.name for p in files]
    frames = np.stack([tifffile.imread(f) for f in files])
    assert frames.shape == (100, 128, 128)
    assert not np.array_equal(frames[0], frames[1])  # fresh noise in every frame
    stop = next(d for n, d in documents if n == "stop")
    assert stop["exit_status"] == "success"
    assert stop["num_events"] == {"primary": 100}


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="reads /proc/self/fd")
@pytest.mark.parametrize("durable", [True, False], ids=["durable", "default"])
def test_camera_flushes_each_frame_to_disk_only_when_the_configuration_asks_for_durable_frames(
    RE: RunEngine,
    documents: Documents,
    make_microscope: Callable[..., Microscope],
    small_config: MicroscopeConfig,
    monkeypatch: pytest.MonkeyPatch,
    durable: bool,
) -> None:
    flushed: list[Path] = []
    fsync = os.fsync

    def recorded_fsync(fd: int) -> None:
        flushed.append(Path(os.readlink(f"/proc/self/fd/{fd}")))
        fsync(fd)

    monkeypatch.setattr(os, "fsync", recorded_fsync)
    config = small_config.model_copy(update={"frames": FramesConfig(durable=durable)})
    m = make_microscope(config)
    RE(use_channel(m, m.config.channel("DAPI")))
    RE(burst_plan(m, 6))

    files = frame_files(documents)
    assert len(files) == 6 and all(f.is_file() for f in files)
    directory = files[0].parent
    frames_flushed = {p.name for p in flushed if p.parent == directory}
    if durable:  # each file's content (before its final name), then its name
        assert frames_flushed == {f.name + ".partial" for f in files}
        assert directory in flushed
    else:
        assert not frames_flushed and directory not in flushed


def test_camera_burst_announces_contiguous_frames_when_collected_twice(
    RE: RunEngine,
    documents: Documents,
    microscope: Microscope,
) -> None:
    m = microscope
    RE(use_channel(m, m.config.channel("DAPI")))
    RE(burst_plan(m, 100, collect_early=True))

    assert len([d for n, d in documents if n == "stream_resource"]) == 1
    datums = [d["indices"] for n, d in documents if n == "stream_datum"]
    assert len(datums) == 2
    assert datums[0]["start"] == 0 and 0 < datums[0]["stop"] < 100
    assert datums[1] == {"start": datums[0]["stop"], "stop": 100}
    assert all(f.is_file() for f in frame_files(documents))


def test_camera_stops_and_leaves_complete_files_when_a_burst_plan_fails(
    RE: RunEngine,
    documents: Documents,
    microscope: Microscope,
    run_on_re_loop: Callable[..., Any],
) -> None:
    m = microscope
    with pytest.raises(RuntimeError, match="failed mid-burst"):
        RE(burst_plan(m, 10_000, fail_after_kickoff=True))
    assert run_on_re_loop(m.camera.acquiring.get_value()) is False
    assert m.camera.data.directory is None  # the frame set was closed
    directory = Path(
        url2pathname(
            urlparse(
                next(d for n, d in documents if n == "descriptor")["data_keys"]["camera"]["source"]
            ).path
        )
    )
    written = sorted(directory.iterdir())
    assert 0 < len(written) < 10_000
    assert all(p.suffix == ".tif" for p in written)  # no half-written file left behind
    for path in written:
        assert tifffile.imread(path).shape == (128, 128)
    stop = next(d for n, d in documents if n == "stop")
    assert stop["exit_status"] == "fail"


def test_camera_unstage_raises_nothing_when_called_twice_or_with_nothing_prepared(
    RE: RunEngine,
    documents: Documents,
    microscope: Microscope,
    run_on_re_loop: Callable[..., Any],
) -> None:
    camera = microscope.camera
    run_on_re_loop(camera.unstage)
    run_on_re_loop(camera.unstage)
    run_on_re_loop(camera.stage)
    run_on_re_loop(camera.unstage)
    RE(bps.mv(microscope.illumination.on, True))
    # A second acquisition after the first works, into a new frame set.
    first = snap(RE, documents, microscope)
    second = snap(RE, documents, microscope)
    assert first.shape == second.shape
    run_on_re_loop(camera.unstage)
    files = frame_files(documents)
    assert len(files) == 2 and files[0].parent != files[1].parent
    assert [d["exit_status"] for n, d in documents if n == "stop"] == ["success", "success"]


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::starlette.exceptions.StarletteDeprecationWarning")
def test_camera_burst_reads_back_through_tiled_when_a_tiled_writer_is_subscribed(
    RE: RunEngine,
    documents: Documents,
    make_microscope: Callable[..., Microscope],
    small_config: MicroscopeConfig,
    tmp_path: Path,
) -> None:
    """TiledWriter consolidates the TIFF sequence; Tiled serves the same frames as the files."""
    from bluesky_tiled_plugins import TiledWriter

    from hcs_storage.catalog import open_catalog

    data_dir = tmp_path / "data"
    m = make_microscope(small_config, data_dir=data_dir)
    client = open_catalog(data_dir)
    try:
        RE.subscribe(TiledWriter(client))
        RE(use_channel(m, m.config.channel("DAPI")))
        result = RE(burst_plan(m, 12))
        assert isinstance(result, RunEngineResult)
        (uid,) = result.run_start_uids
        served = np.asarray(client[uid]["primary"]["camera"].read())
    finally:
        client.context.close()
    on_disk = np.stack([tifffile.imread(f) for f in frame_files(documents)])
    assert served.shape == (12, 1, 128, 128)
    assert np.array_equal(served[:, 0], on_disk)


def test_laser_autofocus_spot_moves_linearly_with_defocus_when_within_range(
    RE: RunEngine,
    documents: Documents,
    microscope: Microscope,
) -> None:
    m = microscope
    af = m.laser_autofocus
    cfg = m.config.laser_autofocus
    assert af is not None and cfg is not None
    surface = _specimen(m).surface_z_um(run(RE, bps.rd(m.stage_.x)), run(RE, bps.rd(m.stage_.y)))
    defocus = np.array([-30.0, -15.0, -5.0, 0.0, 5.0, 15.0, 30.0])
    RE(z_series(m, af, list(surface + defocus)))
    events = [d["data"] for n, d in documents if n == "event"]
    spot_x = np.array([e["laser_autofocus-spot_x_px"] for e in events])
    slope, intercept = np.polyfit(defocus, spot_x, 1)
    assert slope == pytest.approx(cfg.spot_shift_px_per_um, rel=0.02)
    assert intercept == pytest.approx(cfg.sensor_width_px / 2, abs=0.5)
    residuals = spot_x - (slope * defocus + intercept)
    assert np.abs(residuals).max() < 0.5


@pytest.mark.parametrize("beyond_um", [10.0, 40.0])
def test_laser_autofocus_reports_no_spot_when_defocus_is_beyond_range(
    RE: RunEngine,
    documents: Documents,
    microscope: Microscope,
    beyond_um: float,
) -> None:
    m = microscope
    af = m.laser_autofocus
    cfg = m.config.laser_autofocus
    assert af is not None and cfg is not None
    surface = _specimen(m).surface_z_um(run(RE, bps.rd(m.stage_.x)), run(RE, bps.rd(m.stage_.y)))
    positions = [surface + cfg.range_um + beyond_um, surface - cfg.range_um - beyond_um]
    RE(z_series(m, af, positions))
    events = [d["data"] for n, d in documents if n == "event"]
    assert len(events) == 2
    for event in events:
        assert math.isnan(event["laser_autofocus-spot_x_px"])
        assert event["laser_autofocus-spot_intensity"] == 0.0


def test_microscope_builds_and_connects_when_given_the_shipped_profile(
    make_microscope: Callable[..., Microscope],
    profile_config: MicroscopeConfig,
    run_on_re_loop: Callable[..., Any],
) -> None:
    """Dodal-style: a broken constructor or wiring fails CI, not the morning of an experiment."""
    m = make_microscope(profile_config)
    assert set(m.devices()) == {
        "stage",
        "illumination",
        "filter_wheel",
        "camera",
        "laser_autofocus",
    }
    assert m.stage_.has_piezo
    for name, device in m.devices().items():
        assert device.name == name
    reading = run_on_re_loop(m.stage_.read())
    assert reading["stage-x"]["value"] == profile_config.stage.x.home_um
    assert run_on_re_loop(m.filter_wheel.position.get_value()) == 1
    settings = run_on_re_loop(m.camera.exposure_settings())
    assert settings.shape == (2048, 2048)


def test_microscope_devices_connect_in_mock_mode_when_built_from_the_profile(
    profile_config: MicroscopeConfig, tmp_path: Path, run_on_re_loop: Callable[..., Any]
) -> None:
    """Every device of the default profile constructs and connects in ophyd-async mock mode."""
    m = build_microscope(profile_config, data_dir=tmp_path)
    try:

        async def connect_mocked() -> float:
            for device in m.devices().values():
                await device.connect(mock=True)
            return await m.stage_.z.user_readback.get_value()

        assert run_on_re_loop(connect_mocked) == profile_config.stage.z.home_um
    finally:
        m.close()


def test_camera_unstage_leaves_no_frame_set_open_when_a_prepare_is_still_under_way(
    microscope: Microscope, run_on_re_loop: Callable[..., Any]
) -> None:
    # An abort unstages the camera while a prepare it did not wait for still runs.
    camera = microscope.camera

    async def abort_during_prepare() -> None:
        await camera.stage()
        preparing = camera.prepare(TriggerInfo(number_of_events=1))
        await asyncio.sleep(0)
        await camera.unstage()
        with contextlib.suppress(asyncio.CancelledError):
            await preparing

    run_on_re_loop(abort_during_prepare)
    assert camera.data.directory is None
    assert not [t.name for t in threading.enumerate() if t.name.startswith("tiff-writer-")]
