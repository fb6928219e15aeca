"""The server's API key: generated, checked, read from and written to a private file.

The key never travels on a command line (where every user of the machine can read it with
``ps``): it comes from ``$HCS_TILED_API_KEY``, a key file, or is generated and written to
a key file readable by its owner only (:func:`resolve_api_key`).
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from pathlib import Path

from hcs_storage.server_error import ServerError

#: Environment variable holding the API key (kept off the command line, where other
#: users of the machine could read it).
API_KEY_ENV = "HCS_TILED_API_KEY"
#: Shortest API key accepted.
MIN_API_KEY_LENGTH = 16
#: Where ``hcs serve`` writes the key it generates, in the data directory (mode 0600;
#: outside ``frames/`` and ``tiled/``, so never served).
GENERATED_KEY_FILE = "server-api-key"

log = logging.getLogger(__name__)


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
