"""Server mode: a Tiled server on a data directory (``hcs serve``).

The server serves the same data directory as the embedded catalog
(:func:`hcs_storage.catalog.open_catalog`): the SQLite catalog in it by default, or a
PostgreSQL catalog for a facility that serves many microscopes. Its rules:

- it listens on the loopback interface (127.0.0.1) unless told otherwise;
- writing needs the API key; reading needs it too unless ``public_read`` is set;
- the key never travels on a command line: it comes from ``$HCS_TILED_API_KEY``, a key
  file, or is generated and written to a key file readable by its owner only;
- it reads files only under the data directory's ``frames/`` and ``tiled/``: an asset
  pointing anywhere else (after resolving ``..`` and symlinks) is refused when it is
  registered and again whenever it would be read (:func:`install_readable_storage_guard`);
- its logs never hold the key: ``?api_key=`` values and the key itself are redacted
  from every log record (:func:`redact_secrets_in_logs`).

:func:`serve` runs a server in the foreground (the command line);
:class:`TiledServer` runs one in a child process (tests, notebooks, scripts).
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import re
import secrets
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote_plus, unquote, urlparse

from hcs_storage.catalog import catalog_adapter

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
#: Environment variable holding the API key (kept off the command line, where other
#: users of the machine could read it).
API_KEY_ENV = "HCS_TILED_API_KEY"
#: Shortest API key accepted.
MIN_API_KEY_LENGTH = 16
#: Longest wait for a server to start or stop.
STARTUP_TIMEOUT_S = 60.0
#: Where ``hcs serve`` writes the key it generates, in the data directory (mode 0600;
#: outside ``frames/`` and ``tiled/``, so never served).
GENERATED_KEY_FILE = "server-api-key"

log = logging.getLogger(__name__)


class ServerError(RuntimeError):
    """The server could not be configured or started."""


def new_api_key() -> str:
    """A random API key (64 hexadecimal characters)."""
    return secrets.token_hex(32)


def check_api_key(key: str) -> str:
    """Return ``key`` if Tiled accepts it as an API key and it is long enough.

    Raises:
        ServerError: the key is too short or has characters other than letters and
            digits (Tiled requires that, so that ``?api_key=`` URLs stay unambiguous).
    """
    if len(key) < MIN_API_KEY_LENGTH:
        raise ServerError(f"the API key must have at least {MIN_API_KEY_LENGTH} characters")
    if not (key.isascii() and key.isalnum()):
        raise ServerError("the API key may contain only letters and digits")
    return key


def read_api_key_file(path: str | Path) -> str:
    """The API key stored in a file (surrounding whitespace ignored).

    Raises:
        ServerError: the file cannot be read, is empty, or holds more than one word.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ServerError(f"cannot read the API key file {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ServerError(f"the API key file {path} is not text") from exc
    key = text.strip()
    if not key:
        raise ServerError(f"the API key file {path} is empty")
    if len(key.split()) != 1:
        raise ServerError(f"the API key file {path} must hold the key alone, on one line")
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning(
            "the API key file %s can be read by other users; make it private: chmod 600 %s",
            path,
            path,
        )
    return key


def write_api_key_file(path: str | Path, key: str) -> Path:
    """Write ``key`` to ``path``, readable and writable by its owner only (mode 0600).

    The file is replaced atomically, so no other user can read it at any moment.

    Returns:
        The file's absolute path.
    """
    path = Path(path).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(key + "\n")
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return path


def resolve_api_key(
    key_file: str | Path | None = None, *, generated_key_file: str | Path | None = None
) -> tuple[str, str]:
    """The API key to use, and where it came from (for the user; never the key).

    The key is never taken from a command line, where every user of the machine can
    read it (``ps``). In order: ``key_file``, else ``$HCS_TILED_API_KEY``, else a new
    random key, written to ``generated_key_file`` (mode 0600) when given.

    Returns:
        ``(key, origin)``: ``origin`` says where the key is, e.g.
        ``"$HCS_TILED_API_KEY"`` or ``"written to /data/server-api-key"``.

    Raises:
        ServerError: the key file cannot be read, or the key is not acceptable.
    """
    if key_file is not None:
        path = Path(key_file).resolve()
        return check_api_key(read_api_key_file(path)), f"read from {path}"
    if os.environ.get(API_KEY_ENV):
        return check_api_key(os.environ[API_KEY_ENV]), f"${API_KEY_ENV}"
    key = new_api_key()
    if generated_key_file is None:
        return key, "a new random key"
    path = write_api_key_file(generated_key_file, key)
    return key, f"a new random key, written to {path} (readable by you only)"


def is_loopback(host: str) -> bool:
    """True if ``host`` names the loopback interface only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# --- readable storage: which assets may be registered and served --------------------


class AssetLocationError(ValueError):
    """An asset's data URI points outside every readable storage area of the catalog."""


def _resolved(path: str | Path) -> Path:
    """``path`` made absolute, with every symlink and ``..`` resolved."""
    return Path(os.path.realpath(path))


def _unquote_fully(text: str, rounds: int = 5) -> str:
    """``text`` with percent-encoding undone, repeatedly (a double-encoded value too)."""
    for _ in range(rounds):
        decoded = unquote(text)
        if decoded == text:
            break
        text = decoded
    return text


def check_asset_location(data_uri: str, readable_storage: Iterable[Any]) -> None:
    """Refuse a data URI that is not inside one of the catalog's readable storage areas.

    A ``file:`` URI must name a local path that lies, once ``..`` and symlinks are
    resolved (both as written and percent-decoded), under a readable directory (also
    resolved). Any other URI must be one of the readable non-file storages itself (the
    event-table database, an object store), matched as Tiled matches assets to storage.

    Args:
        data_uri: the asset's URI.
        readable_storage: the catalog's readable storage (``tiled.storage.Storage``
            objects; writable storage is readable too).

    Raises:
        AssetLocationError: the URI points anywhere else; the message says why.
    """
    from tiled.storage import (
        SUPPORTED_OBJECT_URI_SCHEMES,
        FileStorage,
        ObjectStorage,
        storage_registry_key,
    )

    storages = list(readable_storage)
    parsed = urlparse(data_uri)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise AssetLocationError(
                f"{data_uri}: a file on another host ({parsed.netloc}); only local files "
                "under the readable storage can be served"
            )
        roots = [_resolved(s.path) for s in storages if isinstance(s, FileStorage)]
        for written in {parsed.path, _unquote_fully(parsed.path)}:
            if not written.startswith("/"):
                raise AssetLocationError(f"{data_uri}: the path is not absolute")
            path = _resolved(written)
            if not any(path.is_relative_to(root) for root in roots):
                raise AssetLocationError(
                    f"{data_uri} resolves to {path}, outside the readable storage "
                    f"({', '.join(map(str, roots)) or 'none'})"
                )
        return
    if not parsed.scheme:
        raise AssetLocationError(f"{data_uri}: not a URI (no scheme)")
    uri = data_uri
    if parsed.scheme in SUPPORTED_OBJECT_URI_SCHEMES:
        uri, _, _ = ObjectStorage.parse_blob_uri(data_uri)
    allowed = {storage_registry_key(s.uri) for s in storages if not isinstance(s, FileStorage)}
    if storage_registry_key(uri) not in allowed:
        raise AssetLocationError(
            f"{data_uri}: not one of the readable storage locations of this catalog"
        )


def _refuse_outside_readable_storage(context: Any, data_uri: str) -> None:
    """Raise HTTP 403 (to the client) if ``data_uri`` is outside ``context``'s storage."""
    from fastapi import HTTPException

    try:
        check_asset_location(data_uri, context.readable_storage.values())
    except AssetLocationError as exc:
        log.warning("refused an asset outside the readable storage: %s", exc)
        raise HTTPException(
            status_code=403,
            detail=(
                f"Refused: the asset {data_uri} is outside this server's readable storage "
                "(paths are resolved, symlinks and '..' included)."
            ),
        ) from exc


#: Marks Tiled's catalog adapter class once the guard is installed.
_GUARD_MARK = "_hcs_readable_storage_guard"


def install_readable_storage_guard() -> None:
    """Make every Tiled catalog in this process refuse assets outside readable storage.

    Tiled 0.2.20 checks readable storage only when it builds an adapter to read an
    array or table, and does it on the path as written: ``frames/../catalog.db`` and
    a symlink in ``frames/`` pass; raw asset downloads (``/asset/bytes``,
    ``/asset/manifest``) are not checked at all; and registration accepts any URI.
    This replaces three methods of ``tiled.catalog.adapter.CatalogNodeAdapter``, the
    class every catalog node inherits from:

    - ``_put_asset``, through which every asset is recorded (``POST /register``,
      ``PUT /data_source``, new nodes): an asset outside is refused with HTTP 403 and
      nothing is recorded;
    - ``_ensure_uri_within_readable_storage``, Tiled's own check before every read
      through an adapter (array, table, awkward, sparse, container export, the lazy
      per-frame path): now on the resolved path, and for non-file URIs too;
    - ``asset_by_id``, which the raw asset endpoints use: an asset outside is refused.

    Assets recorded before the guard (by an older version, or by hand) are therefore
    refused when read. Installing twice does nothing.

    Raises:
        ServerError: this Tiled version does not have the methods the guard replaces
            (the server must not start unguarded).
    """
    import tiled
    from tiled.catalog.adapter import STRUCTURES, CatalogNodeAdapter

    if getattr(CatalogNodeAdapter, _GUARD_MARK, False):
        return
    replaced = ("_put_asset", "_ensure_uri_within_readable_storage", "asset_by_id")
    missing = [name for name in replaced if not hasattr(CatalogNodeAdapter, name)]
    if missing:
        raise ServerError(
            f"Tiled {tiled.__version__} has no CatalogNodeAdapter.{', '.join(missing)}: "
            "the readable-storage guard cannot be installed (written for Tiled 0.2.20)"
        )
    original_put_asset: Callable[..., Any] = CatalogNodeAdapter._put_asset  # pyright: ignore[reportPrivateUsage]
    original_asset_by_id: Callable[..., Any] = CatalogNodeAdapter.asset_by_id

    async def _put_asset(self: Any, db: Any, asset: Any) -> Any:
        _refuse_outside_readable_storage(self.context, asset.data_uri)
        return await original_put_asset(self, db, asset)

    def _ensure_uri_within_readable_storage(self: Any, data_uri: str) -> None:
        _refuse_outside_readable_storage(self.context, data_uri)

    async def asset_by_id(self: Any, asset_id: int) -> Any:
        asset = await original_asset_by_id(self, asset_id)
        if asset is not None:
            _refuse_outside_readable_storage(self.context, asset.data_uri)
        return asset

    guarded = {
        "_put_asset": _put_asset,
        "_ensure_uri_within_readable_storage": _ensure_uri_within_readable_storage,
        "asset_by_id": asset_by_id,
    }
    for name, method in guarded.items():
        setattr(CatalogNodeAdapter, name, method)
    overriding = [
        f"{cls.__name__}.{name}"
        for cls in STRUCTURES.values()
        for name, method in guarded.items()
        if getattr(cls, name) is not method
    ]
    if overriding:
        raise ServerError(
            f"Tiled {tiled.__version__} overrides {', '.join(overriding)}: the "
            "readable-storage guard would not apply there (written for Tiled 0.2.20)"
        )
    setattr(CatalogNodeAdapter, _GUARD_MARK, True)


# --- logs: never the key ------------------------------------------------------------

#: ``api_key=VALUE`` in a URL or text (also ``api-key``, ``apikey``; any case).
_KEY_PARAMETER = re.compile(r"(?i)(\bapi[_-]?key=)[^&\s\"'#;,)]*")
#: ``Authorization: Apikey VALUE`` / ``Bearer VALUE`` as printed in a header dump.
_KEY_HEADER = re.compile(r"(?i)(\b(?:apikey|bearer)\s+)[A-Za-z0-9._~+/=-]{8,}")
REDACTED = "[redacted]"


class SecretRedactor:
    """Removes API keys from text: the given secrets, and any ``api_key=`` value.

    Text is checked as written and percent-decoded (a URL may carry the key encoded);
    when anything is redacted, the decoded form is returned, redacted.

    Args:
        secrets: literal values that must never appear (the server's key).
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = tuple(sorted({s for s in secrets if s}, key=len, reverse=True))

    def add(self, secrets: Iterable[str]) -> None:
        """Also redact ``secrets``."""
        self._secrets = tuple(
            sorted({*self._secrets, *(s for s in secrets if s)}, key=len, reverse=True)
        )

    def _scrub(self, text: str) -> str:
        text = _KEY_PARAMETER.sub(rf"\1{REDACTED}", text)
        text = _KEY_HEADER.sub(rf"\1{REDACTED}", text)
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text

    def __call__(self, text: str) -> str:
        """``text`` without secrets (unchanged if it held none)."""
        decoded = _unquote_fully(text)
        scrubbed = self._scrub(decoded)
        return text if scrubbed == decoded else scrubbed


class _RedactingRecordFactory:
    """A log record factory that redacts secrets from every record it makes."""

    def __init__(self, redactor: SecretRedactor, inner: Callable[..., logging.LogRecord]):
        self.redactor = redactor
        self.inner = inner

    def _clean(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.redactor(value)
        if value is None or isinstance(value, (bool, int, float)):
            return value
        text = str(value)
        cleaned = self.redactor(text)
        return value if cleaned == text else cleaned

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.inner(*args, **kwargs)
        record.msg = self._clean(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(self._clean(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: self._clean(v) for k, v in record.args.items()}
        if record.exc_info and not record.exc_text:
            record.exc_text = self.redactor(logging.Formatter().formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = self.redactor(record.stack_info)
        return record


def redact_secrets_in_logs(secrets: Iterable[str]) -> SecretRedactor:
    """Redact ``secrets`` and ``api_key=`` values from every log record of this process.

    Installed as the log record factory, so it covers every logger and handler (uvicorn's
    access log, which prints request URLs, included), present and future: the message,
    its arguments, tracebacks and stack dumps. Calling it again adds secrets.

    Returns:
        The redactor in use.
    """
    factory = logging.getLogRecordFactory()
    if isinstance(factory, _RedactingRecordFactory):
        factory.redactor.add(secrets)
        return factory.redactor
    redactor = SecretRedactor(secrets)
    logging.setLogRecordFactory(_RedactingRecordFactory(redactor, factory))
    return redactor


def build_server_app(
    data_dir: str | Path,
    *,
    api_key: str,
    catalog_uri: str | None = None,
    tables_uri: str | None = None,
    public_read: bool = False,
) -> Any:
    """The Tiled web application serving a data directory.

    Args:
        data_dir: the data directory.
        api_key: the single-user API key: required for writing, and for reading
            unless ``public_read``.
        catalog_uri: the catalog's SQL URI (``postgresql://user@host/db``); the data
            directory's SQLite catalog by default.
        tables_uri: SQL URI for event tables; DuckDB in the data directory by default.
        public_read: let anyone who can connect read without the key.

    Returns:
        A FastAPI application (ASGI), ready for uvicorn. Every Tiled catalog in this
        process then refuses assets outside its readable storage (see
        :func:`install_readable_storage_guard`).
    """
    from tiled.config import Authentication
    from tiled.server.app import build_app

    install_readable_storage_guard()
    tree = catalog_adapter(data_dir, catalog_uri, tables_uri=tables_uri)
    authentication = Authentication(
        single_user_api_key=check_api_key(api_key), allow_anonymous_access=public_read
    )
    return build_app(tree, authentication=authentication)


@dataclass(frozen=True)
class ServerAddress:
    """Where a server listens and how to connect to it.

    Attributes:
        host: the interface it listens on.
        port: the port.
        api_key: the API key.
        public_read: whether reading needs no key.
    """

    host: str
    port: int
    api_key: str
    public_read: bool = False

    @property
    def url(self) -> str:
        """The server's base URL (no key in it)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def web_ui(self) -> str:
        """The browser address of Tiled's web interface, with the key (never log it)."""
        return f"{self.url}/ui/?api_key={quote_plus(self.api_key)}"

    def connect(self, *, with_key: bool = True) -> Any:
        """A Tiled client on this server (anonymous if ``with_key`` is False)."""
        from tiled.client import from_uri

        if with_key:
            return from_uri(self.url, api_key=self.api_key)
        return from_uri(self.url)


def connection_help(address: ServerAddress, *, key_origin: str) -> str:
    """What ``hcs serve`` prints: the address, where the key is, and how to connect.

    The key itself is never part of it (the output often ends up in a log file).

    Args:
        address: where the server listens.
        key_origin: where the key is (see :func:`resolve_api_key`).
    """
    if address.api_key in key_origin:
        raise ValueError("key_origin must say where the key is, not contain it")
    reading = (
        "anyone who can connect may read; writing needs the key"
        if address.public_read
        else "reading and writing need the key"
    )
    return "\n".join(
        [
            f"Tiled server on {address.url} ({reading})",
            f"  API key:  {key_origin}",
            f"  web UI:   {address.url}/ui/?api_key=<API key>",
            "  Python:   from tiled.client import from_uri",
            f'            catalog = from_uri("{address.url}", api_key="<API key>")',
            f"  (set {API_KEY_ENV} or pass --api-key-file to reuse a key across restarts)",
        ]
    )


def serve(
    data_dir: str | Path,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    api_key: str,
    catalog_uri: str | None = None,
    tables_uri: str | None = None,
    public_read: bool = False,
    log_level: str = "info",
) -> None:
    """Run a Tiled server on a data directory in the foreground, until interrupted.

    Args:
        data_dir: the data directory.
        host: the interface to listen on (loopback by default).
        port: the port.
        api_key: the API key (see :func:`build_server_app`).
        catalog_uri: the catalog's SQL URI; SQLite in the data directory by default.
        tables_uri: SQL URI for event tables; DuckDB in the data directory by default.
        public_read: let anyone who can connect read without the key.
        log_level: uvicorn's log level. Whatever it is, no log record of this process
            holds the key or an ``api_key=`` value (see :func:`redact_secrets_in_logs`).
    """
    import uvicorn

    redact_secrets_in_logs([api_key])
    app = build_server_app(
        data_dir,
        api_key=api_key,
        catalog_uri=catalog_uri,
        tables_uri=tables_uri,
        public_read=public_read,
    )
    uvicorn.run(app, host=host, port=port, log_level=log_level)


class TiledServer:
    """A Tiled server on a data directory, in a child process.

    Use it as a context manager; the server stops when the block ends::

        with TiledServer("hcs-data") as server:
            catalog = server.address.connect()

    The server runs in its own process (``python -m hcs_storage.server``) because
    Tiled keeps some settings (the API key among them) process-wide: a server built
    in a process that also has an embedded catalog open would change that catalog's key.

    Args:
        data_dir: the data directory.
        host: the interface to listen on (loopback by default).
        port: the port; 0 picks a free one.
        api_key: the API key; a random one by default.
        catalog_uri: the catalog's SQL URI; SQLite in the data directory by default.
        tables_uri: SQL URI for event tables; DuckDB in the data directory by default.
        public_read: let anyone who can connect read without the key.
    """

    def __init__(
        self,
        data_dir: str | Path,
        *,
        host: str = DEFAULT_HOST,
        port: int = 0,
        api_key: str | None = None,
        catalog_uri: str | None = None,
        tables_uri: str | None = None,
        public_read: bool = False,
    ) -> None:
        self._data_dir = Path(data_dir).resolve()
        self._host = host
        self._port = port
        self._api_key = check_api_key(api_key) if api_key else new_api_key()
        self._catalog_uri = catalog_uri
        self._tables_uri = tables_uri
        self._public_read = public_read
        self._process: subprocess.Popen[bytes] | None = None
        self._address: ServerAddress | None = None
        self._log: Any = None

    @property
    def address(self) -> ServerAddress:
        """Where the server listens (once started)."""
        if self._address is None:
            raise ServerError("the server is not running")
        return self._address

    @property
    def data_dir(self) -> Path:
        """The data directory served."""
        return self._data_dir

    @property
    def pid(self) -> int:
        """The server process's id."""
        if self._process is None:
            raise ServerError("the server is not running")
        return self._process.pid

    def start(self, timeout_s: float = STARTUP_TIMEOUT_S) -> ServerAddress:
        """Start the server and wait until it answers.

        Raises:
            ServerError: it exited, or did not answer within ``timeout_s``.
        """
        import httpx

        port = self._port or free_port(self._host)
        args = [
            sys.executable,
            "-m",
            "hcs_storage.server",
            str(self._data_dir),
            "--host",
            self._host,
            "--port",
            str(port),
            "--log-level",
            "warning",
        ]
        if self._catalog_uri:
            args += ["--catalog-uri", self._catalog_uri]
        if self._tables_uri:
            args += ["--tables-uri", self._tables_uri]
        if self._public_read:
            args.append("--public-read")
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (closed by stop())
        self._process = subprocess.Popen(
            args,
            env={**os.environ, API_KEY_ENV: self._api_key},
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        address = ServerAddress(self._host, port, self._api_key, self._public_read)
        deadline = time.monotonic() + timeout_s
        pause = threading.Event()
        with httpx.Client(trust_env=False) as client:
            while True:
                if self._process.poll() is not None:
                    output = self.log(4000)
                    self.stop()
                    raise ServerError(f"the Tiled server exited:\n{output}")
                try:
                    if client.get(f"{address.url}/healthz", timeout=1.0).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    raise ServerError(f"the Tiled server did not answer within {timeout_s} s")
                pause.wait(0.1)  # poll interval (never set: a sleep that ruff allows)
        self._address = address
        return address

    def log(self, limit: int = 20_000) -> str:
        """The end of the server's output (its errors and uvicorn's messages)."""
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-limit:]

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop the server process (SIGTERM, then SIGKILL); safe to call twice."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout_s)
        if self._log is not None:
            self._log.close()
            self._log = None
        self._address = None

    def __enter__(self) -> TiledServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def free_port(host: str = DEFAULT_HOST) -> int:
    """A TCP port nobody listens on now (another process may take it before you)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m hcs_storage.server DATA_DIR``: what :class:`TiledServer` runs.

    The API key comes from ``$HCS_TILED_API_KEY`` only (never the command line).
    """
    parser = argparse.ArgumentParser(prog="python -m hcs_storage.server")
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--catalog-uri", default=None)
    parser.add_argument("--tables-uri", default=None)
    parser.add_argument("--public-read", action="store_true")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    api_key = os.environ.get(API_KEY_ENV)
    if not api_key:
        parser.error(f"set {API_KEY_ENV}")
    serve(
        args.data_dir,
        host=args.host,
        port=args.port,
        api_key=api_key,
        catalog_uri=args.catalog_uri,
        tables_uri=args.tables_uri,
        public_read=args.public_read,
        log_level=args.log_level,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
