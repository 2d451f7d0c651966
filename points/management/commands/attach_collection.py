"""`manage.py attach_collection NAME --collection DB.COLL --location-field pt [--id-field id] [--spherical]
[--create-index] [--title T]`, or `manage.py attach_collection NAME --refresh`.

Serves a MongoDB collection the user already has as dataset NAME, through the same API and page,
without copying it (points.stores.mongo.attach): its documents' `pt` are [x, y] pairs or GeoJSON
Points; the 2d (planar) or 2dsphere (--spherical) index on it is found, or built with
--create-index. Nothing is ever written to it; `delete_dataset NAME` only unregisters it. The
count, bounds and properties are computed now; `--refresh` computes them again (documents
added since, say). Only with the MongoDB store (POINTS_STORE_URL=mongodb://…).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from points.datasets import dataset_record_attached
from points.models import Dataset, DatasetStatus, GeometryKind, ImportJob
from points.stores import get_store
from points.stores.base import StoreError
from points.stores.mongo.attach import LOCATION_WORDS, check_field, parse_collection


class Command(BaseCommand):
    help = "Serve an existing MongoDB collection as a dataset, without copying it (MongoDB store only)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="dataset name (lowercase letters, digits, - and _)")
        parser.add_argument("--collection", help="the collection, as DATABASE.COLLECTION (e.g. mydb.coords)")
        parser.add_argument("--location-field", help="the field holding each location: [x, y] pairs or GeoJSON Points")
        parser.add_argument("--id-field", help="the field holding each point's id (default: _id)")
        parser.add_argument(
            "--spherical", action="store_true", help="lon/lat data queried by a 2dsphere index (default: planar, 2d)"
        )
        parser.add_argument(
            "--create-index", action="store_true", help="build the spatial index on the collection if it has none"
        )
        parser.add_argument(
            "--refresh", action="store_true", help="count an attached dataset's collection again (bounds, properties)"
        )
        parser.add_argument("--title", default="", help="the dataset's title (default: DATABASE.COLLECTION)")

    def handle(self, *args: Any, **opts: Any) -> None:
        name = opts["name"]
        try:
            Dataset._meta.get_field("name").run_validators(name)
        except ValidationError as exc:
            raise CommandError(f"invalid dataset name {name!r}: {' '.join(exc.messages)}") from None
        if opts["refresh"]:
            meta = self._refresh(name, opts)
            verb = "refreshed"
        else:
            meta = self._attach(name, opts)
            verb = "attached"
        dataset = dataset_record_attached(name, meta, title=opts["title"])
        self._say(verb, dataset, meta)

    def _attach(self, name: str, opts: dict[str, Any]) -> dict[str, Any]:
        if not opts["collection"] or not opts["location_field"]:
            raise CommandError(
                "attaching needs --collection DATABASE.COLLECTION and --location-field FIELD "
                "(or --refresh, to count an attached dataset again)"
            )
        try:
            parse_collection(opts["collection"])
            check_field("--location-field", opts["location_field"])
            if opts["id_field"] is not None:
                check_field("--id-field", opts["id_field"])
        except StoreError as exc:
            raise CommandError(str(exc)) from None
        existing = Dataset.objects.filter(name=name).first()
        if existing is not None and (existing.attached or existing.status == DatasetStatus.READY or existing.job):
            what = f"attached to {existing.attached}" if existing.attached else existing.status
            raise CommandError(
                f"dataset {name!r} exists ({what}); choose another name, or delete it first: "
                f"manage.py delete_dataset {name}" + (" (or --refresh it)" if existing.attached else "")
            )
        try:
            return get_store().attach(
                name,
                collection=opts["collection"],
                location_field=opts["location_field"],
                id_field=opts["id_field"],
                geometry=GeometryKind.SPHERICAL if opts["spherical"] else GeometryKind.PLANAR,
                create_index=opts["create_index"],
            )
        except StoreError as exc:
            raise CommandError(str(exc)) from None

    def _refresh(self, name: str, opts: dict[str, Any]) -> dict[str, Any]:
        given = [f"--{o.replace('_', '-')}" for o in ("collection", "location_field", "id_field") if opts[o]]
        given += [f"--{o.replace('_', '-')}" for o in ("spherical", "create_index") if opts[o]]
        if given:
            raise CommandError(
                f"--refresh counts the collection the dataset is attached to again; it takes no {', '.join(given)} "
                "(to attach another way, delete the dataset and attach it again)"
            )
        dataset = Dataset.objects.filter(name=name).first()
        if dataset is None:
            raise CommandError(f"no dataset named {name!r}")
        if not dataset.attached:
            raise CommandError(f"dataset {name!r} is not attached to a collection: its points were imported")
        if dataset.job != ImportJob.NONE:
            raise CommandError(f"dataset {name!r} is being imported now")
        try:
            return get_store().refresh(name)
        except StoreError as exc:
            raise CommandError(str(exc)) from None

    def _say(self, verb: str, dataset: Dataset, meta: dict[str, Any]) -> None:
        """Write what was found: the count, bounds, index, properties and what is not served."""
        attached, found = meta["attached"], meta["attached"]["found"]
        id_field = attached["id_field"] or "_id"
        where = "to" if verb == "attached" else "attached to"
        self.stdout.write(
            f"{verb} {dataset.name} {where} {dataset.attached}: {dataset.count:,} points "
            f"({LOCATION_WORDS[attached['location']]} in {attached['location_field']!r}, ids from {id_field!r}, "
            f"{dataset.geometry})"
        )
        bounds = dataset.bounds
        self.stdout.write("bounds: " + ("none" if bounds is None else ", ".join(f"{v:g}" for v in bounds)))
        how = "built now" if attached.get("index_created") and verb == "attached" else "found"
        self.stdout.write(f"spatial index: {attached['index']} ({how})")
        properties = meta["schema"]["properties"]
        self.stdout.write("properties: " + (", ".join(f"{k} ({t})" for k, t in properties) if properties else "none"))
        for field, why in attached["left_out"]:
            self.stdout.write(f"left out: property {field!r}: {why}")
        if found["without_location"]:
            other = "[x, y] pairs" if attached["location"] == "point" else "GeoJSON Points"
            also = f" ({found['other_kind']:,} of them hold {other})" if found["other_kind"] else ""
            self.stdout.write(
                f"not served: {found['without_location']:,} of the {found['documents']:,} documents, without a "
                f"usable location in {attached['location_field']!r}{also}"
            )
        if found["without_id"]:
            self.stdout.write(f"not served: {_documents(found['without_id'])} with a location but no {id_field!r}")


def _documents(n: int) -> str:
    """Return "1 document" or "N documents"."""
    return "1 document" if n == 1 else f"{n:,} documents"
