"""Server mode: ``hcs serve`` / ``TiledServer`` on a data directory, and its security.

- Writing needs the API key (also when anyone may read); reading needs it unless
  the server was started with ``public_read``.
- The server listens on 127.0.0.1 unless told otherwise.
- A data source pointing outside the data directory's readable storage is refused.

The servers run in child processes, as they do in use.
"""

from __future__ import annotations

import os
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

from hcs_orchestrator.cli import build_parser
from hcs_storage.catalog import redact_uri
from hcs_storage.query import find_runs, run_images
from hcs_storage.sample import SampleSpec, sample_frame, write_sample_run
from hcs_storage.server import (
    API_KEY_ENV,
    ServerAddress,
    ServerError,
    TiledServer,
    check_api_key,
    connection_help,
    free_port,
    is_loopback,
    resolve_api_key,
)

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
    args = build_parser().parse_args(["serve"])
    assert (args.host, args.port, args.public_read) == ("127.0.0.1", 8000, False)


def test_is_loopback() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.2")
    assert not is_loopback("example.org")


# --- readable storage --------------------------------------------------------------


def register_tiff(client: Any, key: str, path: Path, data: np.ndarray) -> None:
    from tiled.structures.array import ArrayStructure
    from tiled.structures.core import StructureFamily
    from tiled.structures.data_source import Asset, DataSource, Management

    tifffile.imwrite(path, data)
    client.new(
        structure_family=StructureFamily.array,
        data_sources=[
            DataSource(
                structure_family=StructureFamily.array,
                structure=ArrayStructure.from_array(data),
                mimetype="image/tiff",
                parameters={},
                management=Management.external,
                assets=[
                    Asset(
                        data_uri=f"file://localhost{path}",
                        is_directory=False,
                        parameter="data_uri",
                    )
                ],
            )
        ],
        metadata={},
        specs=[],
        key=key,
    )


def test_files_outside_the_readable_storage_are_refused(
    server: TiledServer, keyed: Any, tmp_path: Path
) -> None:
    data = np.arange(64, dtype=np.uint16).reshape(8, 8)
    inside = Path(server.data_dir) / "frames" / "inside.tif"
    register_tiff(keyed, "inside", inside, data)
    np.testing.assert_array_equal(keyed["inside"].read(), data)

    register_tiff(keyed, "outside", tmp_path / "secret.tif", data)
    # Not through the client, which retries server errors for a while.
    response = httpx.get(
        f"{server.address.url}/api/v1/array/full/outside",
        headers={"Authorization": f"Apikey {KEY}"},
        trust_env=False,
    )
    # Same file, same registration, only the place differs: refused ("outside the
    # readable storage area" in the server's log).
    assert response.status_code == 500
    # The rest of the data directory (the catalog database...) is not readable either.
    register_tiff(keyed, "beside", Path(server.data_dir) / "beside.tif", data)
    response = httpx.get(
        f"{server.address.url}/api/v1/array/full/beside",
        headers={"Authorization": f"Apikey {KEY}"},
        trust_env=False,
    )
    assert response.status_code == 500


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


@pytest.mark.slow
def test_hcs_serve_serves_a_data_directory_on_loopback(tmp_path: Path) -> None:
    from hcs_storage.catalog import open_catalog

    catalog = open_catalog(tmp_path)
    uid = write_sample_run(catalog, tmp_path, fields_per_well=1)
    catalog.context.close()  # DuckDB tables: one process at a time
    port = free_port()
    command = [str(Path(sys.executable).parent / "hcs"), "serve", "--data-dir", str(tmp_path)]
    process = subprocess.Popen(
        [*command, "--port", str(port)],
        env={**os.environ, API_KEY_ENV: KEY},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        pause = threading.Event()
        while True:
            assert process.poll() is None, "hcs serve exited"
            try:
                if httpx.get(f"{url}/healthz", timeout=1, trust_env=False).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "hcs serve did not answer in 60 s"
            pause.wait(0.2)
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


# --- small pieces ------------------------------------------------------------------


def test_api_keys_must_be_long_and_alphanumeric(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ServerError, match="at least"):
        check_api_key("short")
    with pytest.raises(ServerError, match="letters and digits"):
        check_api_key("0123456789abcdef-0123")
    monkeypatch.delenv(API_KEY_ENV, raising=False)
    key, source = resolve_api_key(None)
    assert source == "generated" and len(key) == 64
    monkeypatch.setenv(API_KEY_ENV, KEY)
    assert resolve_api_key(None) == (KEY, "env")
    assert resolve_api_key("x" * 20) == ("x" * 20, "given")


def test_connection_help_prints_a_generated_key_only() -> None:
    address = ServerAddress("127.0.0.1", 8000, KEY)
    assert KEY in connection_help(address, key_source="generated")
    shown = connection_help(address, key_source="env")
    assert KEY not in shown and "http://127.0.0.1:8000" in shown


def test_redact_uri_hides_passwords() -> None:
    assert redact_uri("postgresql://hcs:secret@db:5432/hcs") == "postgresql://hcs:***@db:5432/hcs"
    assert redact_uri("postgresql://hcs@db/hcs") == "postgresql://hcs@db/hcs"
    assert redact_uri("sqlite:////data/catalog.db") == "sqlite:////data/catalog.db"
