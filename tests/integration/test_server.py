"""Server mode: ``hcs serve`` / ``TiledServer`` on a data directory, and its security.

- Writing needs the API key (also when anyone may read); reading needs it unless
  the server was started with ``public_read``.
- The server listens on 127.0.0.1 unless told otherwise.
- A data source pointing outside the data directory's readable storage is refused.

The servers run in child processes, as they do in use.
"""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil
import pytest
import tifffile
from tiled.client.utils import ClientError

from hcs_orchestrator.cli import build_command
from hcs_orchestrator.cli import main as hcs_main
from hcs_orchestrator.cli.forward import forwarder_api_key
from hcs_storage.api_key import (
    API_KEY_ENV,
    GENERATED_KEY_FILE,
    check_api_key,
    read_api_key_file,
    resolve_api_key,
    write_api_key_file,
)
from hcs_storage.catalog import redact_uri
from hcs_storage.query import find_runs, run_images
from hcs_storage.redact import SecretRedactor, redact_secrets_in_logs
from hcs_storage.sample import SampleSpec, sample_frame, write_sample_run
from hcs_storage.server import ServerAddress, connection_help, free_port, is_loopback
from hcs_storage.server_error import ServerError
from hcs_storage.storage_guard import AssetLocationError, check_asset_location
from hcs_storage.tiled_server import TiledServer

# A system test (real RunEngine, real Tiled catalog): part of the full suite only.
pytestmark = pytest.mark.slow

KEY = "0123456789abcdef0123456789abcdef"


def listening_addresses(pid: int) -> set[str]:
    """The IP addresses a process listens on (TCP)."""
    return {
        c.laddr.ip
        for c in psutil.Process(pid).net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TiledServer]:
    """A server (default settings: private, loopback) on an empty data directory."""
    with TiledServer(tmp_path_factory.mktemp("served"), api_key=KEY) as running:
        yield running


@pytest.fixture(scope="module")
def keyed(server: TiledServer) -> Iterator[Any]:
    client = server.address.connect()
    yield client
    client.context.close()


# --- the key ---------------------------------------------------------------------


def test_anonymous_reads_are_refused_when_not_public(server: TiledServer) -> None:
    response = httpx.get(f"{server.address.url}/api/v1/search/", trust_env=False)
    assert response.status_code == 401
    assert "read:metadata" in response.json()["detail"]


def test_requests_with_a_wrong_key_are_refused(server: TiledServer) -> None:
    response = httpx.get(
        f"{server.address.url}/api/v1/search/",
        headers={"Authorization": "Apikey wrongwrongwrongwrong"},
        trust_env=False,
    )
    assert response.status_code == 401


def test_writes_without_the_key_are_refused(server: TiledServer) -> None:
    response = httpx.post(
        f"{server.address.url}/api/v1/metadata/",
        json={"structure_family": "container", "data_sources": [], "metadata": {}, "specs": []},
        trust_env=False,
    )
    assert response.status_code == 401


def test_writes_with_the_key_are_accepted_and_read_back(
    server: TiledServer, keyed: Any, tmp_path: Path
) -> None:
    spec = SampleSpec(experiment_id="served", wells=("D4",), fields_per_well=1, z_planes=1)
    data_dir = Path(server.data_dir)  # the frames must be under the served directory
    uid = write_sample_run(keyed, data_dir, spec)
    assert set(find_runs(keyed, experiment_id="served").keys()) == {uid}
    images = run_images(keyed[uid])
    frame = next(spec.frames())
    np.testing.assert_array_equal(
        images.sel(field="D4/0", c=frame["channel"], z=0, t=0).values, sample_frame(spec, frame)
    )


# --- where it listens --------------------------------------------------------------


def test_server_listens_on_loopback_only_by_default(server: TiledServer) -> None:
    assert server.address.host == "127.0.0.1"
    assert listening_addresses(server.pid) == {"127.0.0.1"}


def test_hcs_serve_defaults_to_loopback_and_port_8000() -> None:
    serve = build_command().commands["serve"]
    defaults = {p.name: p.default for p in serve.params}
    assert (defaults["host"], defaults["port"], defaults["public_read"]) == (
        "127.0.0.1",
        8000,
        False,
    )


def test_is_loopback() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.2")
    assert not is_loopback("example.org")


# --- readable storage --------------------------------------------------------------

#: A recognisable image: its bytes must never come back from a refused asset.
SECRET_IMAGE = np.full((8, 8), 0x5EC7, dtype=np.uint16)
#: /etc/passwd's first line: must never come back either.
PASSWD_LINE = Path("/etc/passwd").read_bytes().splitlines()[0]


def external_source(
    family: str,
    structure: Any,
    mimetype: str,
    data_uri: str,
    *,
    parameter: str = "data_uri",
    num: int | None = None,
    is_directory: bool = False,
    parameters: dict[str, Any] | None = None,
) -> Any:
    """An externally managed data source with one asset."""
    from tiled.structures.core import StructureFamily
    from tiled.structures.data_source import Asset, DataSource, Management

    return DataSource(
        structure_family=StructureFamily(family),
        structure=structure,
        mimetype=mimetype,
        parameters=parameters or {},
        management=Management.external,
        assets=[Asset(data_uri=data_uri, is_directory=is_directory, parameter=parameter, num=num)],
    )


def tiff_source(data_uri: str) -> Any:
    from tiled.structures.array import ArrayStructure

    return external_source("array", ArrayStructure.from_array(SECRET_IMAGE), "image/tiff", data_uri)


def passwd_source() -> Any:
    """/etc/passwd as a table (``:``-separated CSV): what a table read would leak."""
    from tiled.adapters.csv import CSVAdapter

    structure = CSVAdapter.from_uris("file://localhost/etc/passwd", sep=":", header=None)
    return external_source(
        "table",
        structure.structure(),
        "text/csv",
        "file://localhost/etc/passwd",
        parameter="data_uris",
        num=0,
        parameters={"sep": ":", "header": None},
    )


def bytes_source(data_uri: str, *, is_directory: bool = False) -> Any:
    from tiled.structures.bytes import BytesStructure

    return external_source(
        "bytes",
        BytesStructure(),
        "application/octet-stream",
        data_uri,
        is_directory=is_directory,
    )


def register(client: Any, key: str, family: str, source: Any) -> Any:
    """Register a node with one external data source (through Tiled's client)."""
    return client.new(
        structure_family=family, data_sources=[source], metadata={}, specs=[], key=key
    )


def poisoned_sources(data_dir: Path, outside: Path) -> dict[str, tuple[str, Any]]:
    """Data sources that read outside the readable storage, by node key.

    Each would leak (HTTP 200 with the bytes) on a server without the guard: Tiled's
    own check neither resolves ``..`` nor symlinks, and raw asset downloads are not
    checked at all.
    """
    frames = data_dir / "frames"
    return {
        "outside": ("array", tiff_source(f"file://localhost{outside}/secret.tif")),
        "dotdot": ("array", tiff_source(f"file://localhost{frames}/../beside.tif")),
        "encoded": ("array", tiff_source(f"file://localhost{frames}/%2E%2E/beside.tif")),
        "symlink": ("array", tiff_source(f"file://localhost{frames}/link.tif")),
        "passwd": ("table", passwd_source()),
        "passwd_bytes": ("bytes", bytes_source("file://localhost/etc/passwd")),
        "catalog_db": ("bytes", bytes_source(f"file://localhost{frames}/../catalog.db")),
        "etc": ("bytes", bytes_source("file://localhost/etc", is_directory=True)),
    }


@pytest.fixture(scope="module", params=[False, True], ids=["private", "public-read"])
def poisoned(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TiledServer]:
    """A server whose catalog already holds assets outside its readable storage.

    They are registered before the server starts, with an embedded catalog in this
    process (which has no guard), as a catalog written by an older version would hold
    them; plus ``inside``, an image in ``frames/`` that must stay readable.
    """
    from hcs_storage.catalog import open_catalog

    data_dir = tmp_path_factory.mktemp("poisoned")
    outside = tmp_path_factory.mktemp("outside")
    tifffile.imwrite(outside / "secret.tif", SECRET_IMAGE)
    tifffile.imwrite(data_dir / "beside.tif", SECRET_IMAGE)
    catalog = open_catalog(data_dir)  # creates frames/ and catalog.db
    (data_dir / "frames" / "link.tif").symlink_to(outside / "secret.tif")
    inside = data_dir / "frames" / "inside.tif"
    tifffile.imwrite(inside, SECRET_IMAGE + 1)
    try:
        register(catalog, "inside", "array", tiff_source(f"file://localhost{inside}"))
        for key, (family, source) in poisoned_sources(data_dir, outside).items():
            register(catalog, key, family, source)
        box = catalog.create_container("box")
        register(box, "outside", "array", tiff_source(f"file://localhost{outside}/secret.tif"))
    finally:
        catalog.context.close()
    with TiledServer(data_dir, api_key=KEY, public_read=request.param) as running:
        yield running


def data_sources_json(server: TiledServer, key: str) -> list[dict[str, Any]]:
    """A node's data sources as the server describes them (asset ids included)."""
    response = httpx.get(
        f"{server.address.url}/api/v1/metadata/{key}",
        params={"include_data_sources": "true"},
        headers={"Authorization": f"Apikey {KEY}"},
        trust_env=False,
    )
    response.raise_for_status()
    return response.json()["data"]["attributes"]["data_sources"]


def asset_ids(server: TiledServer, key: str) -> list[int]:
    return [asset["id"] for source in data_sources_json(server, key) for asset in source["assets"]]


def read_requests(server: TiledServer) -> list[tuple[str, dict[str, Any]]]:
    """Every way to read the poisoned nodes: (path, query parameters)."""
    requests: list[tuple[str, dict[str, Any]]] = []
    for key in ("outside", "dotdot", "encoded", "symlink"):
        requests += [
            (f"/api/v1/array/full/{key}", {}),
            (f"/api/v1/array/block/{key}", {"block": "0,0"}),
            (f"/zarr/v2/{key}/0.0", {}),
            (f"/zarr/v3/{key}/c/0/0", {}),
        ]
    requests += [
        ("/api/v1/container/full/box", {}),
        ("/api/v1/node/full/box", {}),
        ("/api/v1/table/full/passwd", {}),
        ("/api/v1/table/partition/passwd", {"partition": 0}),
        ("/api/v1/node/full/passwd", {}),
        ("/zarr/v2/passwd/0/0", {}),
        ("/zarr/v3/passwd/0/c/0", {}),
    ]
    for key in ("outside", "dotdot", "symlink", "passwd", "passwd_bytes", "catalog_db"):
        requests += [(f"/api/v1/asset/bytes/{key}", {"id": i}) for i in asset_ids(server, key)]
    for i in asset_ids(server, "etc"):
        requests += [
            ("/api/v1/asset/manifest/etc", {"id": i}),
            ("/api/v1/asset/bytes/etc", {"id": i, "relative_path": "passwd"}),
        ]
    return requests


def leaked(body: bytes) -> list[str]:
    """What of the protected files a response body holds."""
    marks = {
        "the secret image": SECRET_IMAGE.tobytes()[:32],
        "/etc/passwd": PASSWD_LINE,
        "/etc/passwd's first shell": PASSWD_LINE.split(b":")[-1],
        "the catalog database": b"SQLite format 3",
        "a listing of /etc": b"/etc/group",
    }
    return [name for name, mark in marks.items() if mark in body]


@pytest.mark.parametrize("with_key", [True, False], ids=["key", "anonymous"])
def test_assets_outside_the_readable_storage_are_refused_on_every_read_endpoint(
    poisoned: TiledServer, with_key: bool
) -> None:
    headers = {"Authorization": f"Apikey {KEY}"} if with_key else {}
    # Refused by the guard (403) whenever the reader may read at all; anonymous
    # readers of a private server are refused before that (401; 403 from the zarr
    # endpoints).
    expected = {403} if with_key or poisoned.address.public_read else {401, 403}
    requests = read_requests(poisoned)
    assert len(requests) > 25
    failures = []
    with httpx.Client(base_url=poisoned.address.url, trust_env=False, timeout=30) as client:
        for path, params in requests:
            try:
                response = client.get(path, params=params, headers=headers)
            except httpx.TransportError as exc:  # e.g. the server dropped the connection
                failures.append((path, params, repr(exc), []))
                continue
            if response.status_code not in expected or leaked(response.content):
                failures.append((path, params, response.status_code, leaked(response.content)))
    assert not failures, failures


@pytest.mark.parametrize("with_key", [True, False], ids=["key", "anonymous"])
def test_assets_inside_the_readable_storage_are_served_to_whoever_may_read(
    poisoned: TiledServer, with_key: bool
) -> None:
    may_read = with_key or poisoned.address.public_read
    (asset_id,) = asset_ids(poisoned, "inside")
    response = httpx.get(
        f"{poisoned.address.url}/api/v1/asset/bytes/inside",
        params={"id": asset_id},
        headers={"Authorization": f"Apikey {KEY}"} if with_key else {},
        trust_env=False,
    )
    if not may_read:
        assert response.status_code == 401
        return
    assert response.status_code == 200
    np.testing.assert_array_equal(tifffile.imread(io.BytesIO(response.content)), SECRET_IMAGE + 1)
    client = poisoned.address.connect(with_key=with_key)
    try:
        np.testing.assert_array_equal(client["inside"].read(), SECRET_IMAGE + 1)
    finally:
        client.context.close()


def test_registering_assets_outside_the_readable_storage_is_refused(
    poisoned: TiledServer, tmp_path: Path
) -> None:
    data_dir = poisoned.data_dir
    sources = poisoned_sources(data_dir, tmp_path)
    client = poisoned.address.connect()
    try:
        for key, (family, source) in sources.items():
            with pytest.raises(ClientError, match="403") as refused:
                register(client, f"new_{key}", family, source)
            assert "outside this server's readable storage" in str(refused.value)
            assert f"new_{key}" not in client  # nothing recorded
        # Nor by replacing the asset of a node that is allowed (PUT /data_source).
        inside = data_dir / "frames" / "inside.tif"
        register(client, "new_inside", "array", tiff_source(f"file://localhost{inside}"))
        (source,) = data_sources_json(poisoned, "new_inside")
        source["assets"] = [
            {"data_uri": "file://localhost/etc/passwd", "is_directory": False,
             "parameter": "data_uri", "num": None}
        ]  # fmt: skip
        response = httpx.put(
            f"{poisoned.address.url}/api/v1/data_source/new_inside",
            json={"data_source": source},
            headers={"Authorization": f"Apikey {KEY}"},
            trust_env=False,
        )
        assert response.status_code == 403, response.text
        np.testing.assert_array_equal(client["new_inside"].read(), SECRET_IMAGE + 1)
    finally:
        client.context.close()
    # Without the key, registration is refused before anything is looked at.
    response = httpx.post(
        f"{poisoned.address.url}/api/v1/register/",
        json={
            "id": "anonymous",
            "structure_family": "bytes",
            "metadata": {},
            "specs": [],
            "data_sources": [
                {
                    "structure_family": "bytes",
                    "structure": {},
                    "mimetype": "application/octet-stream",
                    "management": "external",
                    "assets": [
                        {
                            "data_uri": "file://localhost/etc/passwd",
                            "is_directory": False,
                            "parameter": "data_uri",
                            "num": None,
                        }
                    ],
                }
            ],
        },
        trust_env=False,
    )
    assert response.status_code == 401, response.text


@pytest.mark.parametrize(
    ("where", "allowed"),
    [
        ("file://localhost{frames}/a.tif", True),
        ("file://{frames}/sub/a.tif", True),
        ("file://localhost{tiled}/x/data.zarr", True),
        ("duckdb://localhost/{data}/tables.duckdb", True),
        ("file://localhost{frames}", True),
        ("file://localhost/etc/passwd", False),
        ("file://localhost{frames}/../catalog.db", False),
        ("file://localhost{frames}/%2e%2e/catalog.db", False),
        ("file://localhost{frames}/%252e%252e/catalog.db", False),
        ("file://localhost{frames}/link", False),
        ("file://localhost{data}/framesX/a.tif", False),
        ("file://otherhost{frames}/a.tif", False),
        ("sqlite:///{data}/catalog.db", False),
        ("duckdb://localhost/{data}/frames/../tables.duckdb", False),
        ("http://example.org/a.tif", False),
        ("no-scheme/a.tif", False),
    ],
)
def test_check_asset_location_resolves_paths_before_checking(
    tmp_path: Path, where: str, allowed: bool
) -> None:
    from tiled.storage import parse_storage

    data = tmp_path.resolve()
    (data / "frames").mkdir()
    (data / "tiled").mkdir()
    (data / "frames" / "link").symlink_to("/etc/passwd")
    storage = [
        parse_storage(str(data / "frames")),
        parse_storage(str(data / "tiled")),
        parse_storage(f"duckdb:///{data}/tables.duckdb"),
    ]
    uri = where.format(frames=data / "frames", tiled=data / "tiled", data=data)
    if allowed:
        check_asset_location(uri, storage)
    else:
        with pytest.raises(AssetLocationError):
            check_asset_location(uri, storage)


# --- public reading --------------------------------------------------------------


@pytest.mark.slow
def test_public_read_lets_anyone_read_but_not_write(tmp_path: Path) -> None:
    with TiledServer(tmp_path, api_key=KEY, public_read=True) as running:
        keyed = running.address.connect()
        try:
            write_sample_run(keyed, tmp_path, fields_per_well=1, z_planes=1)
        finally:
            keyed.context.close()
        anonymous = running.address.connect(with_key=False)
        try:
            assert len(anonymous) == 1
            with pytest.raises(ClientError, match="401"):
                anonymous.create_container("mine")
        finally:
            anonymous.context.close()
        assert listening_addresses(running.pid) == {"127.0.0.1"}


# --- the command -----------------------------------------------------------------

HCS = str(Path(sys.executable).parent / "hcs")


def wait_until_serving(process: subprocess.Popen[Any], url: str, timeout_s: float = 60) -> None:
    """Wait until a server process answers ``/healthz``."""
    deadline = time.monotonic() + timeout_s
    pause = threading.Event()
    while True:
        assert process.poll() is None, "the server exited"
        try:
            if httpx.get(f"{url}/healthz", timeout=1, trust_env=False).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"the server did not answer in {timeout_s} s"
        pause.wait(0.2)


def environment_without_key() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in (API_KEY_ENV, "TILED_API_KEY")}


@pytest.mark.slow
def test_hcs_serve_serves_a_data_directory_on_loopback(tmp_path: Path) -> None:
    from hcs_storage.catalog import open_catalog

    catalog = open_catalog(tmp_path)
    uid = write_sample_run(catalog, tmp_path, fields_per_well=1)
    catalog.context.close()  # DuckDB tables: one process at a time
    port = free_port()
    process = subprocess.Popen(
        [HCS, "serve", "--data-dir", str(tmp_path), "--port", str(port)],
        env={**os.environ, API_KEY_ENV: KEY},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_serving(process, url)
        assert listening_addresses(process.pid) == {"127.0.0.1"}
        client = ServerAddress("127.0.0.1", port, KEY).connect()
        try:
            assert list(client) == [uid]
        finally:
            client.context.close()
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    assert url in output
    assert KEY not in output  # a key from the environment is not printed


def files_holding(root: Path, secret: str, *, besides: Path) -> list[Path]:
    """Files under ``root`` (but ``besides``) holding ``secret``, plain or URL-encoded."""
    forms = [secret.encode(), "".join(f"%{ord(c):02X}" for c in secret).encode()]
    return [
        path
        for path in root.rglob("*")
        if path.is_file() and path != besides and any(f in path.read_bytes() for f in forms)
    ]


@pytest.mark.slow
def test_hcs_serve_writes_no_api_key_to_its_output_or_logs_when_used_with_one(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    log_file = tmp_path / "hcs-serve.log"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log_file.open("wb") as log:  # what a service manager would keep
        process = subprocess.Popen(
            [HCS, "serve", "--data-dir", str(data_dir), "--port", str(port)],
            env=environment_without_key(),  # so a new key is made
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_serving(process, url)
        key_file = data_dir / GENERATED_KEY_FILE
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        key = read_api_key_file(key_file)
        # A session: writes and reads with the key, then the key in URLs.
        client = ServerAddress("127.0.0.1", port, key).connect()
        try:
            spec = SampleSpec(experiment_id="logs", wells=("B2",), fields_per_well=1, z_planes=1)
            uid = write_sample_run(client, data_dir, spec)
            assert run_images(client[uid]).size > 0
        finally:
            client.context.close()
        encoded = "".join(f"%{ord(c):02X}" for c in key)
        with httpx.Client(base_url=url, trust_env=False) as raw:
            assert raw.get(f"/ui/?api_key={key}").status_code == 200  # the web UI's URL
            assert raw.get(f"/api/v1/search/?api_key={key}").status_code == 200
            assert raw.get(f"/api/v1/search/?api_key={encoded}").status_code == 200
            assert raw.get(f"/api/v1/metadata/missing?api_key={key}").status_code == 404
            assert raw.get(f"/api/v1/nowhere/{key}?api_key={key}").status_code == 404
            response = raw.get("/api/v1/search/", headers={"Authorization": f"Apikey {key}"})
            assert response.status_code == 200
    finally:
        process.terminate()
        process.wait(30)
    output = log_file.read_text()
    assert str(key_file.resolve()) in output  # the user is told where the key is
    assert "GET /ui/?api_key=[redacted]" in output  # the access log was written
    assert output.count("api_key=[redacted]") >= 5
    assert not files_holding(tmp_path, key, besides=key_file)


def test_hcs_serve_refuses_a_key_on_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for argv in (["--api-key", KEY], [f"--api-key={KEY}"], ["--api-key"]):
        assert hcs_main(["serve", "--data-dir", str(tmp_path), *argv]) == 2
        error = capsys.readouterr().err
        assert "--api-key is not accepted" in error and "--api-key-file" in error
        assert KEY not in error
    assert not (tmp_path / GENERATED_KEY_FILE).exists()  # refused before anything else


def test_hcs_serve_takes_the_key_from_a_file(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(KEY + "\n")
    serve = build_command().commands["serve"]
    ctx = serve.make_context("serve", ["--api-key-file", str(key_file)])
    assert resolve_api_key(ctx.params["api_key_file"]) == (KEY, f"read from {key_file.resolve()}")


def test_hcs_serve_help_offers_the_key_file_not_a_key_option(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert hcs_main(["serve", "--help"]) == 0
    usage = capsys.readouterr().out
    assert "--api-key-file" in usage
    assert "--api-key " not in usage and "--api-key\n" not in usage


# --- the forwarder's key -------------------------------------------------------------


@pytest.mark.parametrize("argv", [["--api-key", KEY], [f"--api-key={KEY}"], ["--api-key"]])
def test_forwarder_refuses_a_key_on_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    code = hcs_main(
        ["forward", "--data-dir", str(tmp_path), "--tiled-uri", "http://127.0.0.1:9", *argv]
    )
    assert code == 2
    error = capsys.readouterr().err
    assert "--api-key is not accepted" in error and API_KEY_ENV in error
    assert KEY not in error


def test_forwarder_refuses_to_start_without_a_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(API_KEY_ENV, raising=False)
    code = hcs_main(["forward", "--data-dir", str(tmp_path), "--tiled-uri", "http://127.0.0.1:9"])
    assert code == 2
    assert f"no API key: set {API_KEY_ENV} or pass --api-key-file" in capsys.readouterr().err
    code = hcs_main(
        ["forward", "--data-dir", str(tmp_path), "--tiled-uri", "http://127.0.0.1:9",
         "--api-key-file", str(tmp_path / "missing")]
    )  # fmt: skip
    assert code == 2
    assert "cannot read the API key file" in capsys.readouterr().err


def test_forwarder_key_comes_from_the_file_else_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(f"  {KEY}\n")
    monkeypatch.setenv(API_KEY_ENV, "fromtheenvironment0")
    assert forwarder_api_key(key_file) == KEY
    assert forwarder_api_key(None) == "fromtheenvironment0"


@pytest.mark.slow
def test_forwarder_connects_with_a_key_file_and_logs_no_key(
    server: TiledServer, tmp_path: Path
) -> None:
    key_file = tmp_path / "key"
    write_api_key_file(key_file, KEY)
    log_file = tmp_path / "forwarder.log"
    command = [
        str(Path(sys.executable).with_name("hcs")), "forward", "--data-dir", str(tmp_path),
        "--tiled-uri", server.address.url, "--api-key-file", str(key_file),
        "--log-level", "DEBUG",
    ]  # fmt: skip
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            command,
            env=environment_without_key(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while "forwarding" not in log_file.read_text():
            assert process.poll() is None, log_file.read_text()
            assert time.monotonic() < deadline, "the forwarder did not connect in 60 s"
            threading.Event().wait(0.2)
    finally:
        process.terminate()
        process.wait(30)
    output = log_file.read_text()
    assert "not reachable" not in output  # the key from the file was accepted
    assert KEY not in output


@pytest.mark.slow
def test_forwarder_waiting_for_an_absent_server_ends_at_once_on_sigterm(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    write_api_key_file(key_file, KEY)
    log_file = tmp_path / "forwarder.log"
    command = [
        str(Path(sys.executable).with_name("hcs")), "forward", "--data-dir", str(tmp_path),
        "--tiled-uri", f"http://127.0.0.1:{free_port()}", "--api-key-file", str(key_file),
    ]  # fmt: skip
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            command, env=environment_without_key(), stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 60
        while "Retrying" not in log_file.read_text():  # the Tiled client's own retries
            assert process.poll() is None, log_file.read_text()
            assert time.monotonic() < deadline, "the forwarder never tried the server"
            threading.Event().wait(0.1)
        asked = time.monotonic()
        process.terminate()
        assert process.wait(15) == 0, log_file.read_text()
        assert time.monotonic() - asked < 5.0  # not after the attempt, nor never
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


# --- small pieces ------------------------------------------------------------------


def test_api_keys_must_be_long_and_alphanumeric() -> None:
    with pytest.raises(ServerError, match="at least"):
        check_api_key("short")
    with pytest.raises(ServerError, match="letters and digits"):
        check_api_key("0123456789abcdef-0123")


def test_resolve_api_key_prefers_the_file_then_the_environment_then_a_new_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file = tmp_path / "given"
    key_file.write_text(KEY)
    monkeypatch.setenv(API_KEY_ENV, "x" * 20)
    assert resolve_api_key(key_file)[0] == KEY
    assert resolve_api_key(None) == ("x" * 20, f"${API_KEY_ENV}")
    monkeypatch.delenv(API_KEY_ENV)
    generated = tmp_path / "data" / GENERATED_KEY_FILE
    key, origin = resolve_api_key(None, generated_key_file=generated)
    assert len(key) == 64 and key not in origin and str(generated) in origin
    assert read_api_key_file(generated) == key
    assert stat.S_IMODE(generated.stat().st_mode) == 0o600


def test_api_key_files_that_cannot_be_used_are_refused_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(ServerError, match="cannot read the API key file"):
        read_api_key_file(tmp_path / "missing")
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ServerError, match="is empty"):
        read_api_key_file(tmp_path / "empty")
    (tmp_path / "two").write_text(f"{KEY} {KEY}\n")
    with pytest.raises(ServerError, match="key alone"):
        read_api_key_file(tmp_path / "two")
    (tmp_path / "short").write_text("short\n")
    with pytest.raises(ServerError, match="at least"):
        resolve_api_key(tmp_path / "short")


def test_connection_help_says_where_the_key_is_never_what_it_is() -> None:
    address = ServerAddress("127.0.0.1", 8000, KEY)
    shown = connection_help(address, key_origin="written to /data/server-api-key")
    assert KEY not in shown and "http://127.0.0.1:8000" in shown
    assert "written to /data/server-api-key" in shown
    with pytest.raises(ValueError, match="not contain it"):
        connection_help(address, key_origin=f"the key {KEY}")


@pytest.mark.parametrize(
    "text",
    [
        f'127.0.0.1:5 - "GET /ui/?api_key={KEY} HTTP/1.1" 200',
        f'"GET /api/v1/search/?page=1&api_key={KEY}&x=2 HTTP/1.1"',
        "GET /api/v1/search/?api_key=" + "".join(f"%{ord(c):02X}" for c in KEY),
        "GET /api/v1/search/?api%5Fkey=" + "".join(f"%2525{ord(c):02X}" for c in KEY[:4]) + KEY[4:],
        f"Authorization: Apikey {KEY}",
        f"failed for {KEY}",
    ],
)
def test_secret_redactor_removes_the_key_in_every_spelling(text: str) -> None:
    redacted = SecretRedactor([KEY])(text)
    assert KEY not in redacted and KEY not in _unquoted(redacted)
    assert "[redacted]" in redacted


def _unquoted(text: str) -> str:
    from urllib.parse import unquote

    for _ in range(5):
        text = unquote(text)
    return text


def test_secret_redactor_leaves_other_text_alone() -> None:
    text = '127.0.0.1:5 - "GET /api/v1/search/?page%5Boffset%5D=0 HTTP/1.1" 200'
    assert SecretRedactor([KEY])(text) == text


def test_log_records_are_redacted_whatever_the_logger_or_handler() -> None:
    import logging

    previous = logging.getLogRecordFactory()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("test_server.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        redact_secrets_in_logs([KEY])
        logger.warning('%s - "%s %s HTTP/%s" %d', "1.2.3.4", "GET", f"/x?api_key={KEY}", "1.1", 200)
        logger.warning(f"inline {KEY}")
        try:
            raise RuntimeError(f"failed with {KEY}")
        except RuntimeError:
            logger.exception("boom")
    finally:
        logger.removeHandler(handler)
        logging.setLogRecordFactory(previous)
    written = stream.getvalue()
    assert KEY not in written
    assert 'GET /x?api_key=[redacted] HTTP/1.1" 200' in written
    assert "RuntimeError: failed with [redacted]" in written


def test_redact_uri_hides_passwords() -> None:
    assert redact_uri("postgresql://hcs:secret@db:5432/hcs") == "postgresql://hcs:***@db:5432/hcs"
    assert redact_uri("postgresql://hcs@db/hcs") == "postgresql://hcs@db/hcs"
    assert redact_uri("sqlite:////data/catalog.db") == "sqlite:////data/catalog.db"
