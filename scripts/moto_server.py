#!/usr/bin/env python3
"""moto's server with one change: requests are handled one at a time.

moto's DynamoDB handlers are not thread-safe: a conditional PutItem checks and writes in two
steps, and TransactWriteItems snapshots whole tables, so two requests handled at once can both
pass a condition or undo each other's writes. DynamoDB itself applies each request atomically.
Serialising DynamoDB requests behind one lock gives the local endpoint that guarantee, which the
project's concurrency tests rely on. Other services (SQS, whose ReceiveMessage long-polls) are
served concurrently, as before.

A second change is about cost, not behaviour: moto answers a Query on a table's own key by
sorting every item of the table and walking the sorted list up to ExclusiveStartKey, so each
page costs time in proportion to the whole table (half a second at 30,000 items). DynamoDB reads
one partition from the start key on. `partition_queries` gives moto's own Query code only the
queried partition, already sorted and starting after ExclusiveStartKey; moto then filters,
limits, projects and answers exactly as before. Index queries, scans and every other request
are untouched. `scripts/test_moto_server.py` checks the answers are the same as moto's own.

    python scripts/moto_server.py -H 127.0.0.1 -p 5005
"""
import argparse
import bisect
import contextvars
import signal
import sys
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple

# The partition (and start key) of the Query being answered, while moto's Query code runs.
_partition = contextvars.ContextVar("partition", default=None)


def partition_queries() -> None:
    """Lets a base-table Query read only its own partition (see the module's docstring)."""
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    if getattr(Table, "_partition_queries", False):
        return
    original_query = Table.query
    original_all_items = Table.all_items

    def query(self, hash_key, range_comparison, range_objs, limit, exclusive_start_key,
              scan_index_forward, projection_expressions, index_name=None, *args, **kwargs):
        scope = None
        if index_name is None and self.range_key_attr and hash_key is not None:
            start = None
            if exclusive_start_key is not None:
                start_hash = exclusive_start_key.get(self.hash_key_attr)
                start_range = exclusive_start_key.get(self.range_key_attr)
                if start_hash is not None and start_range is not None \
                        and DynamoType(start_hash) == hash_key:
                    start = DynamoType(start_range)
            if exclusive_start_key is None or start is not None:
                scope = (self, hash_key, start, scan_index_forward is not False)
        token = _partition.set(scope)
        try:
            return original_query(self, hash_key, range_comparison, range_objs, limit,
                                  exclusive_start_key, scan_index_forward,
                                  projection_expressions, index_name, *args, **kwargs)
        finally:
            _partition.reset(token)

    def all_items(self):
        scope = _partition.get()
        if scope is None or scope[0] is not self:
            return original_all_items(self)
        _, hash_key, start, forward = scope
        partition = self.items.get(hash_key)
        if not partition:
            return []
        # The order moto's own sort gives: DynamoType compares range keys by cast_value.
        items = sorted(partition.values(), key=lambda item: item.range_key.cast_value)
        if start is None:
            return items
        keys = [item.range_key.cast_value for item in items]
        # Everything at or before the start key (in the direction of the Query) was the
        # previous page; moto would skip it item by item.
        if forward:
            return items[bisect.bisect_right(keys, start.cast_value):]
        return items[: bisect.bisect_left(keys, start.cast_value)]

    Table.query = query
    Table.all_items = all_items
    Table._partition_queries = True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5005)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    partition_queries()

    backend = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def serialised(environ, start_response):
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            return backend(environ, start_response)
        with lock:
            # The whole body is produced inside the lock: werkzeug's iterables are lazy.
            return [b"".join(backend(environ, start_response))]

    run_simple(
        args.host,
        args.port,
        serialised,
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()
