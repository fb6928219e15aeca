"""The readable-storage guard: a Tiled catalog serves files under its storage areas only.

An asset pointing outside the catalog's readable storage (after resolving ``..`` and
symlinks, as written and percent-decoded) is refused when it is registered and again
whenever it would be read (:func:`install_readable_storage_guard`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from hcs_storage.redact import unquote_fully
from hcs_storage.server_error import ServerError

log = logging.getLogger(__name__)


class AssetLocationError(ValueError):
    """An asset's data URI points outside every readable storage area of the catalog."""


def _resolved(path: str | Path) -> Path:
    """``path`` made absolute, with every symlink and ``..`` resolved."""
    return Path(os.path.realpath(path))


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
        for written in {parsed.path, unquote_fully(parsed.path)}:
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
