"""The MongoDB point store (see points.stores.mongo.store)."""

from points.stores.mongo.queries import Query, index_spec, keep, within_queries
from points.stores.mongo.store import MongoStore, collection_name

__all__ = ["MongoStore", "Query", "collection_name", "index_spec", "keep", "within_queries"]
