"""The rules every input path shares, each written once (a leaf: no project imports).

The dataset name, the property names a point may not carry, the geometry kinds, and the range of
longitude and latitude: the importers, the stores, the API, the admin and the commands all ask here.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from django.db.models import TextChoices

#: a dataset's name: also a file and collection name, and safe in a quoted download file name
NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
NAME_RULE = "Use 1 to 63 lowercase letters, digits, '-' or '_', starting with a letter or digit."

#: property names a point may not carry: `id` and `pt` are its own keys in a stream line, `_id`
#: is the MongoDB document's key
RESERVED_PROPERTIES = frozenset({"id", "pt", "_id"})

#: what spherical data's coordinates must be, as every message says it
LON_LAT_RANGE = "longitude in [-180, 180] and latitude in [-90, 90]"


class GeometryKind(TextChoices):
    """How a dataset's coordinates are read, and what its polygons' edges are."""

    PLANAR = "planar", "planar (x/y, flat edges)"
    SPHERICAL = "spherical", "spherical (lon/lat, geodesic edges)"


def in_lon_lat(x: float, y: float) -> bool:
    """Return whether (x, y) is a longitude and latitude (NaN is not)."""
    return -180.0 <= x <= 180.0 and -90.0 <= y <= 90.0


def outside_lon_lat(xs: npt.ArrayLike, ys: npt.ArrayLike) -> npt.NDArray[np.intp]:
    """Return the positions of the points that are not a longitude and latitude (NaN is not)."""
    lon, lat = np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)
    return np.flatnonzero(~((np.abs(lon) <= 180.0) & (np.abs(lat) <= 90.0)))
