"""The MongoDB point store (see points.stores.mongo.store)."""

from points.stores.mongo.queries import index_spec, keep_inside, within_filter
from points.stores.mongo.store import MongoStore, collection_name

__all__ = ["MongoStore", "collection_name", "index_spec", "keep_inside", "within_filter"]
