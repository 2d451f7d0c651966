"""Argument parsing shared by the data commands."""

from __future__ import annotations

from django.core.management.base import CommandError

from points.stores.base import Bounds


def parse_bounds(text: str) -> Bounds:
    """Return the bounds of 'minx,miny,maxx,maxy', or raise CommandError saying what is wrong."""
    parts = text.split(",")
    if len(parts) != 4:
        raise CommandError(f"--bounds needs 4 numbers minx,miny,maxx,maxy; got {text!r}")
    try:
        min_x, min_y, max_x, max_y = (float(p) for p in parts)
    except ValueError:
        raise CommandError(f"--bounds needs numbers; got {text!r}") from None
    if not (min_x < max_x and min_y < max_y):
        raise CommandError(f"--bounds must have minx < maxx and miny < maxy; got {text!r}")
    return (min_x, min_y, max_x, max_y)


def parse_grid(text: str) -> tuple[int, int]:
    """Return (width, height) of 'WxH'."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise CommandError(f"--grid needs WIDTHxHEIGHT, e.g. 50x50; got {text!r}") from None
    if width < 1 or height < 1:
        raise CommandError(f"--grid needs positive sizes; got {text!r}")
    return width, height
