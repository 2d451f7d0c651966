"""One JSON object as a point: a GeoJSON Point Feature (in a FeatureCollection or on an NDJSON
line), or an NDJSON record with `pt` or x/y keys."""

from __future__ import annotations

from typing import Any

from points.importers.shared import X_NAMES, Y_NAMES, RowError, point_id


def json_record(obj: Any, where: str) -> tuple[int | str | None, Any, Any, dict[str, Any] | None, tuple[str, str]]:
    """Return (id, x, y, properties, labels) of an NDJSON object or GeoJSON Point Feature; the
    labels name the coordinates as the record does (its own keys, when it has x/lon… keys).

    Properties are the record's other keys (a Feature's "properties"), as they are: one named
    `id`, `pt` or `_id` is refused by the Batcher, as in every format (a Feature's own id is its
    "id" member, beside "properties").
    """
    if not isinstance(obj, dict):
        raise RowError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    if obj.get("type") == "Feature":
        geometry = obj.get("geometry")
        if not isinstance(geometry, dict) or geometry.get("type") != "Point":
            got = geometry.get("type") if isinstance(geometry, dict) else geometry
            raise RowError(f"{where}: the feature's geometry must be a Point, got {got!r}")
        coords = geometry.get("coordinates")
        if not isinstance(coords, list) or len(coords) < 2:
            raise RowError(f"{where}: a Point needs coordinates [x, y], got {coords!r}")
        props = obj.get("properties") or None
        if props is not None and not isinstance(props, dict):
            raise RowError(f"{where}: properties must be an object")
        return point_id(obj.get("id"), where, typed=True), coords[0], coords[1], props, ("x", "y")
    if "pt" in obj:
        pt = obj["pt"]
        if not isinstance(pt, list) or len(pt) != 2:
            raise RowError(f"{where}: pt must be [x, y], got {pt!r}")
        x, y = pt
        keys: tuple[str, ...] = ("id", "pt")
        labels = ("x", "y")
    else:
        xk = next((k for k in X_NAMES if k in obj), None)
        yk = next((k for k in Y_NAMES if k in obj), None)
        if xk is None or yk is None:
            raise RowError(f'{where}: needs "pt": [x, y] or "x" and "y" fields')
        x, y = obj[xk], obj[yk]
        keys = ("id", xk, yk)
        labels = (f"field “{xk}”", f"field “{yk}”")
    props = {k: v for k, v in obj.items() if k not in keys} or None
    return point_id(obj.get("id"), where, typed=True), x, y, props, labels
