#!/usr/bin/env python3
"""moto's server with these changes: DynamoDB requests are handled one at a time, a Query (of
the table or of an index) reads only its page, a projected Query copies only what it returns,
and a transaction copies only the items it writes.

moto's DynamoDB handlers are not thread-safe: a conditional PutItem checks and writes in two
steps, and TransactWriteItems snapshots whole tables, so two requests handled at once can both
pass a condition or undo each other's writes. DynamoDB itself applies each request atomically.
Serialising DynamoDB requests behind one lock gives the local endpoint that guarantee, which the
project's concurrency tests rely on. Other services (SQS, whose ReceiveMessage long-polls) are
served concurrently, as before.

A second change is about cost, not behaviour: moto answers a Query on a table's own key by
sorting every item of the table and walking the sorted list up to ExclusiveStartKey, so each
page costs time in proportion to the whole table (half a second at 30,000 items, more than
three at 230,000). DynamoDB reads a page from the start key on. `partition_queries` gives moto's
own Query code just the items that page can hold: those of the queried partition (kept sorted
between Queries until its keys change), from ExclusiveStartKey and the key condition's first
match on, and when a Limit applies, the Limit plus the one more item moto looks at. moto then
matches, limits, projects and answers exactly as before. Tables whose sort key is not a string,
scans and every other request are untouched.

`index_queries` does the same for a Query of a global secondary index, which moto answers by
sorting the whole table, picking the partition's items and sorting those (seconds per page at
100,000 agreements, so an export of them took hours). For a table with a stream (the project's
table has one) every write passes through the stream, so there each index partition's items are
kept as the stream's records come (built from the table at the first index Query) and sorted
when a Query reads a changed partition; moto's Query code is given the page's window of them.
A transaction that is cancelled puts its items back without stream records, so it drops what
is kept, to be built again. Indexes of one key attribute each, of strings, only.

A third, `cheap_reads`, is about cost too: moto deep-copies every item a Query returns and then,
to project it, converts every attribute of it to Python once per projected name; and it writes
each attribute value of an answer by walking the ten members of botocore's AttributeValue
shape. A projected base-table Query here copies and converts only the attributes it returns,
and a plain string or number value ({"S": ...} / {"N": ...}) is written as it is. Both answers
are the ones moto gives. `scripts/test_moto_server.py` checks every change's answers are the
same as moto's own.

A fourth, `cheap_transactions`, is about cost and memory: before each TransactWriteItems, moto
deep-copies every table the transaction names (once per action), to put the copy back if the
transaction is cancelled. At 10,000 agreements that is seconds of copying per transaction, and
the copies' garbage grew the server by gigabytes in minutes. Only the items a transaction names
can change, so here those items (and the length of the table's stream) are what is kept and
put back; the answers, the table after a cancelled transaction and its stream records are
moto's own (`scripts/test_moto_server.py` checks them too).

A fifth, `cheap_receives`: moto's SQS reads a queue's retention period (for each message a
ReceiveMessage looks at) and its ContentBasedDeduplication (for each SendMessage) through the
queue's attribute map, which counts every message of the queue three times; a queue of 10,000
e-mails made each receive and send cost seconds. Here those two values are read directly; the
answers are moto's own. Last, the server writes no log line per request (MOTO_REQUEST_LOG=1
does); errors are still logged.

    python scripts/moto_server.py -H 127.0.0.1 -p 5005
"""
import argparse
import bisect
import contextvars
import copy
import os
import signal
import sys
import threading
import types

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple

# What the base-table Query being answered asks for, while moto's Query code runs.
_partition = contextvars.ContextVar("partition", default=None)
# Set while moto answers a projected base-table Query: its results are only read and projected.
_projected = contextvars.ContextVar("projected", default=False)

# Set while TransactWriteItems runs: moto's copy of a whole table is then the table itself.
_in_transaction = contextvars.ContextVar("in_transaction", default=False)

# Where a key condition's matches start, in sort order: a bisect of the sorted keys at the
# condition's value. Key conditions select one contiguous run of the sorted keys.
_LOWER_BOUNDS = {
    "EQ": bisect.bisect_left, "=": bisect.bisect_left,
    "GE": bisect.bisect_left, ">=": bisect.bisect_left,
    "GT": bisect.bisect_right, ">": bisect.bisect_right,
    "BEGINS_WITH": bisect.bisect_left, "BETWEEN": bisect.bisect_left,
    "LT": None, "<": None, "LE": None, "<=": None,
}


def _limit_window(range_comparison, range_objs, limit, forward, kwargs):
    """For a forward Query with a Limit whose key condition selects one run of sorted string
    keys: (the bisect finding the run's start, or None for the first key; the condition's
    value; the Limit). None when the page's matches cannot be bounded so."""
    comparison = (range_comparison or "").upper()
    bound_values = [obj.cast_value for obj in range_objs or []]
    # Legacy QueryFilter conditions (moto's filter_kwargs) are matched inside the loop that
    # counts the Limit; a FilterExpression is applied after it.
    filtered = any(key not in ("hash_key_conditions", "range_key_conditions") for key in kwargs)
    if not forward or not isinstance(limit, int) or limit <= 0 or filtered \
            or (comparison and comparison not in _LOWER_BOUNDS) \
            or not all(isinstance(v, str) for v in bound_values):
        return None
    bound = _LOWER_BOUNDS.get(comparison)
    return bound, (bound_values[0] if bound else None), limit


def _scoped(variable, scope, query, *args, **kwargs):
    """moto's Query (`query`) run with `variable` set to `scope`."""
    token = variable.set(scope)
    try:
        return query(*args, **kwargs)
    finally:
        variable.reset(token)


class _Partition(dict):
    """A table partition (range key -> item) that knows when its set of keys changed, so its
    sorted keys can be kept between Queries."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.version = 0
        self.sorted_keys = None

    def __setitem__(self, key, value):
        if key not in self:
            self.version += 1
        super().__setitem__(key, value)

    def __delitem__(self, key):
        self.version += 1
        super().__delitem__(key)

    def pop(self, *args):
        self.version += 1
        return super().pop(*args)

    def popitem(self):
        self.version += 1
        return super().popitem()

    def clear(self):
        self.version += 1
        super().clear()

    def update(self, *args, **kwargs):
        self.version += 1
        super().update(*args, **kwargs)

    def setdefault(self, key, default=None):
        if key not in self:
            self.version += 1
        return super().setdefault(key, default)


def _sorted(partition):
    """The partition's range keys in moto's order (DynamoType compares by cast_value), and
    their cast values."""
    cached = getattr(partition, "sorted_keys", None)
    if cached is not None and cached[0] == partition.version and len(cached[1]) == len(partition):
        return cached[1], cached[2]
    keys = sorted(partition.keys(), key=lambda key: key.cast_value)
    values = [key.cast_value for key in keys]
    if isinstance(partition, _Partition):
        partition.sorted_keys = (partition.version, keys, values)
    return keys, values


def partition_queries() -> None:
    """Lets a base-table Query read only its own page (see the module's docstring)."""
    from collections import defaultdict

    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    if getattr(Table, "_partition_queries", False):
        return
    original_init = Table.__init__
    original_query = Table.query
    original_all_items = Table.all_items

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self.items = defaultdict(_Partition)

    def query(self, hash_key, range_comparison, range_objs, limit, exclusive_start_key,
              scan_index_forward, projection_expressions, index_name=None, *args, **kwargs):
        scope = None
        if index_name is None and self.range_key_attr and hash_key is not None \
                and self.range_key_type == "S":
            start = None
            if exclusive_start_key is not None:
                start_hash = exclusive_start_key.get(self.hash_key_attr)
                start_range = exclusive_start_key.get(self.range_key_attr)
                if start_hash is not None and start_range is not None \
                        and DynamoType(start_hash) == hash_key:
                    start = DynamoType(start_range)
            if exclusive_start_key is None or start is not None:
                forward = scan_index_forward is not False
                window = _limit_window(range_comparison, range_objs, limit, forward, kwargs)
                scope = (self, hash_key, start, forward, window)
        return _scoped(_partition, scope, original_query, self, hash_key, range_comparison,
                       range_objs, limit, exclusive_start_key, scan_index_forward,
                       projection_expressions, index_name, *args, **kwargs)

    def all_items(self):
        scope = _partition.get()
        if scope is None or scope[0] is not self:
            return original_all_items(self)
        _, hash_key, start, forward, window = scope
        partition = self.items.get(hash_key)
        if not partition:
            return []
        keys, values = _sorted(partition)
        low, high = 0, len(keys)
        # Everything at or before the start key (in the direction of the Query) was the
        # previous page; moto would skip it item by item.
        if start is not None:
            if forward:
                low = bisect.bisect_right(values, start.cast_value)
            else:
                high = bisect.bisect_left(values, start.cast_value)
        if window is not None:
            bound, value, limit = window
            if bound is not None:
                low = max(low, bound(values, value))
            # moto takes matches until it holds `limit` and then looks at one item more to
            # decide on LastEvaluatedKey; the matches are one run, so limit + 1 items suffice.
            high = min(high, low + limit + 1)
        return [partition[key] for key in keys[low:high]]

    Table.__init__ = init
    Table.query = query
    Table.all_items = all_items
    Table._partition_queries = True


class _IndexState:
    """A streamed table's index partitions, kept by the table's stream: the items of each
    (index, partition key value), and each partition's items sorted as moto sorts them."""

    def __init__(self, table, shard):
        self.shard = shard
        # (index name, hash attribute, range attribute) of every index of one of each.
        self.indexes = []
        for index in table.all_indexes():
            hashes = [k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"]
            ranges = [k["AttributeName"] for k in index.schema if k["KeyType"] == "RANGE"]
            if len(hashes) == 1 and len(ranges) == 1:
                self.indexes.append((index.name, hashes[0], ranges[0]))
        self.members = {}
        self.sorted = {}
        for partition in table.items.values():
            for item in partition.values():
                self.written(None, item)

    def written(self, old, new):
        for name, hash_attr, range_attr in self.indexes:
            for item, present in ((old, False), (new, True)):
                if item is None:
                    continue
                value = item.attrs.get(hash_attr)
                # moto's own test of an item's membership of an index.
                if not value or not item.attrs.get(range_attr):
                    continue
                partition = (name, value)
                self.sorted.pop(partition, None)
                members = self.members.setdefault(partition, {})
                if present:
                    members[(item.hash_key, item.range_key)] = item
                else:
                    members.pop((item.hash_key, item.range_key), None)
                    if not members:
                        del self.members[partition]

    def partition(self, name, range_attr, value):
        """The partition's sort keys (index range, table hash, table range: strings only) in
        order, their index range values, and the items; None when a key is not a string."""
        partition = (name, value)
        cached = self.sorted.get(partition)
        if cached is not None:
            return cached
        keyed = []
        for item in self.members.get(partition, {}).values():
            sort_value = item.attrs[range_attr]
            if sort_value.type != "S" or item.hash_key.type != "S" \
                    or item.range_key is None or item.range_key.type != "S":
                return None
            keyed.append(((sort_value.value, item.hash_key.value, item.range_key.value), item))
        keyed.sort(key=lambda pair: pair[0])
        cached = ([k for k, _ in keyed], [k[0] for k, _ in keyed], [i for _, i in keyed])
        self.sorted[partition] = cached
        return cached


# What the index Query being answered may look at, while moto's Query code runs.
_index_window = contextvars.ContextVar("index_window", default=None)


def index_queries() -> None:
    """Lets an index Query of a streamed table read only its own page (see the module's
    docstring)."""
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import StreamShard, Table

    if getattr(Table, "_index_queries", False):
        return
    previous_query = Table.query
    previous_all_items = Table.all_items
    shipped_add = StreamShard.add

    def add(self, old, new):
        state = self.table.__dict__.get("_index_state")
        if state is not None:
            if state.shard is self:
                state.written(old, new)
            else:
                self.table._index_state = None
        return shipped_add(self, old, new)

    def state_of(table):
        state = table.__dict__.get("_index_state")
        if table.stream_shard is None or not table.range_key_attr:
            table._index_state = None
            return None
        if state is None or state.shard is not table.stream_shard:
            state = _IndexState(table, table.stream_shard)
            table._index_state = state
        return state

    def window(table, hash_key, range_comparison, range_objs, limit, start_key, forward,
               index_name, kwargs):
        state = state_of(table)
        if state is None:
            return None
        found = [i for i in state.indexes if i[0] == index_name]
        if not found:
            return None
        _, hash_attr, range_attr = found[0]
        conditions = kwargs.get("hash_key_conditions")
        if conditions is not None and (len(conditions) != 1 or conditions[0][0] != hash_attr
                                       or conditions[0][1] != hash_key):
            return None
        ranges = kwargs.get("range_key_conditions")
        if ranges and (len(ranges) != 1 or ranges[0][0] != range_attr):
            return None
        cached = state.partition(index_name, range_attr, hash_key)
        if cached is None:
            return None
        keys, values, items = cached
        low, high = 0, len(items)
        if start_key is not None:
            names = (hash_attr, range_attr, table.hash_key_attr, table.range_key_attr)
            if any(name not in start_key for name in names):
                return None
            start = [DynamoType(start_key[name]) for name in names]
            if start[0] != hash_key or any(v.type != "S" for v in start[1:]):
                return None
            start = tuple(v.value for v in start[1:])
            if forward:
                low = bisect.bisect_right(keys, start)
            else:
                high = bisect.bisect_left(keys, start)
        limited = _limit_window(range_comparison, range_objs, limit, forward, kwargs)
        if limited is not None:
            bound, value, limit = limited
            if bound is not None:
                low = max(low, bound(values, value))
            high = min(high, low + limit + 1)
        return table, items[low:high]

    def query(self, hash_key, range_comparison, range_objs, limit, exclusive_start_key,
              scan_index_forward, projection_expressions, index_name=None, *args, **kwargs):
        scope = None
        if index_name is not None and hash_key is not None:
            scope = window(self, hash_key, range_comparison, range_objs, limit,
                           exclusive_start_key, scan_index_forward is not False, index_name,
                           kwargs)
        return _scoped(_index_window, scope, previous_query, self, hash_key, range_comparison,
                       range_objs, limit, exclusive_start_key, scan_index_forward,
                       projection_expressions, index_name, *args, **kwargs)

    def all_items(self):
        scope = _index_window.get()
        if scope is None or scope[0] is not self:
            return previous_all_items(self)
        return list(scope[1])

    StreamShard.add = add
    Table.query = query
    Table.all_items = all_items
    Table._index_queries = True


def cheap_reads() -> None:
    """Lets a projected base-table Query copy only what it returns, and writes plain string and
    number values without the shape walk (see the module's docstring)."""
    import re

    from moto.core.serialize import BaseJSONSerializer
    from moto.dynamodb.models import table as table_module
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.models.table import Table

    if getattr(Table, "_cheap_reads", False):
        return
    partitioned_query = Table.query
    original_project = Item.project
    original_structure = BaseJSONSerializer._serialize_type_structure

    def deepcopy(value, memo=None):
        # moto copies a Query's results before projecting them; a projection builds new items
        # from the values it converts, so the copy of a projected base-table Query is not needed.
        if _projected.get():
            return list(value)
        return copy.deepcopy(value, memo)

    # The table module's `copy`: the copy module, but for the one deepcopy above.
    table_module.copy = types.SimpleNamespace(
        **{name: getattr(copy, name) for name in dir(copy) if not name.startswith("__")})
    table_module.copy.deepcopy = deepcopy

    def query(self, hash_key, range_comparison, range_objs, limit, exclusive_start_key,
              scan_index_forward, projection_expressions, index_name=None, *args, **kwargs):
        token = _projected.set(bool(projection_expressions) and index_name is None)
        try:
            return partitioned_query(self, hash_key, range_comparison, range_objs, limit,
                                     exclusive_start_key, scan_index_forward,
                                     projection_expressions, index_name, *args, **kwargs)
        finally:
            _projected.reset(token)

    class _Named:
        """The attributes of an item a projection names, for moto's Item.project."""

        def __init__(self, item, names):
            self.hash_key = item.hash_key
            self.range_key = item.range_key
            self.attrs = {name: item.attrs[name] for name in names if name in item.attrs}

        def to_regular_json(self):
            return Item.to_regular_json(self)

    def project(self, projection_expressions):
        names = {expression[0] for expression in projection_expressions}
        # A name with an index ('list[1]') is looked up by moto under another name.
        if any(re.search(r"\[\d+\]$", name) for name in names):
            return original_project(self, projection_expressions)
        return original_project(_Named(self, names), projection_expressions)

    def structure(self, serialized, value, shape, key):
        # What the shape walk makes of {"S": text} or {"N": text}: the same one-member map.
        if key and shape.name == "AttributeValue" and type(value) is dict and len(value) == 1:
            ((kind, inner),) = value.items()
            if (kind == "S" or kind == "N") and type(inner) is str:
                serialized[self.get_serialized_name(shape, key)] = {kind: inner}
                return
        original_structure(self, serialized, value, shape, key)

    Table.query = query
    Item.project = project
    BaseJSONSerializer._serialize_type_structure = structure
    Table._cheap_reads = True


def cheap_transactions() -> None:
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    def table_deepcopy(self, memo):
        if _in_transaction.get():
            return self
        # Outside a transaction (e.g. a backup), the copy Python would make.
        result = self.__class__.__new__(self.__class__)
        memo[id(self)] = result
        for name, value in self.__dict__.items():
            setattr(result, name, copy.deepcopy(value, memo))
        return result

    Table.__deepcopy__ = table_deepcopy
    shipped = DynamoDBBackend.transact_write_items

    def key_of(backend, entry):
        try:
            _, op = next(iter(entry.items()))
            table = backend.tables.get(op.get("TableName"))
            if table is None:
                return None
            attrs = op.get("Key") or op.get("Item") or {}
            hash_key = DynamoType(attrs[table.hash_key_attr])
            range_key = (DynamoType(attrs[table.range_key_attr])
                         if table.range_key_attr is not None else None)
            return table, hash_key, range_key
        except Exception:  # a malformed action: moto's own code answers it
            return None

    def restore(table, hash_key, range_key, item):
        # The index partitions follow the stream; a put-back item is not on it.
        table.__dict__.pop("_index_state", None)
        if range_key is None:
            if item is None:
                table.items.pop(hash_key, None)
            else:
                table.items[hash_key] = item
        elif item is None:
            if hash_key in table.items:
                table.items[hash_key].pop(range_key, None)
        else:
            table.items[hash_key][range_key] = item

    def transact_write_items(self, transact_items):
        token = _in_transaction.set(True)
        try:
            kept = []
            streams = {}
            for entry in transact_items:
                key = key_of(self, entry)
                if key is None:
                    continue
                table, hash_key, range_key = key
                try:
                    current = table.get_item(hash_key, range_key)
                except Exception:
                    continue
                kept.append((table, hash_key, range_key, copy.deepcopy(current)))
                if table.stream_shard is not None:
                    streams.setdefault(id(table), (table.stream_shard, len(table.stream_shard.items)))
            try:
                return shipped(self, transact_items)
            except Exception:
                # The first copy of an item named twice is the one to keep: put back last.
                for table, hash_key, range_key, item in reversed(kept):
                    restore(table, hash_key, range_key, item)
                for shard, length in streams.values():
                    del shard.items[length:]
                raise
        finally:
            _in_transaction.reset(token)

    DynamoDBBackend.transact_write_items = transact_write_items


def cheap_receives() -> None:
    """SQS ReceiveMessage checks each message it looks at against the queue's retention period,
    which moto reads through the queue's whole attribute map: three counts over every message
    of the queue, per message looked at. A queue of N messages costs N*N per receive; at
    10,000 e-mails queued it is the local stack's bottleneck. Here the period is read as the
    attribute map would give it; the answer is the same."""
    from moto.core.utils import unix_time
    from moto.sqs.models import Queue, SQSBackend

    def is_message_valid_based_on_retention_period(self, queue_name, message):
        retention_period = self.get_queue(queue_name).message_retention_period
        return retention_period + message.sent_timestamp / 1000 > unix_time()

    SQSBackend.is_message_valid_based_on_retention_period = (
        is_message_valid_based_on_retention_period
    )

    # SendMessage reads one attribute, ContentBasedDeduplication, through the same map: while
    # it runs, the map holds just that one (it exists on FIFO queues only, as in the full map).
    attributes = Queue.attributes.fget
    sending = contextvars.ContextVar("sending", default=False)

    def light_attributes(self):
        if not sending.get():
            return attributes(self)
        if not self.fifo_queue:
            return {}
        return {"ContentBasedDeduplication": str(self.content_based_deduplication).lower()}

    Queue.attributes = property(light_attributes)
    send_message = SQSBackend.send_message

    def send_message_lightly(self, *args, **kwargs):
        token = sending.set(True)
        try:
            return send_message(self, *args, **kwargs)
        finally:
            sending.reset(token)

    SQSBackend.send_message = send_message_lightly


class QuietRequestHandler(MotoRequestHandler):
    """No log line per request (a tenth of the server's time under load); errors still log.
    MOTO_REQUEST_LOG=1 keeps them."""

    def log_request(self, code="-", size="-"):
        if os.environ.get("MOTO_REQUEST_LOG") == "1":
            super().log_request(code, size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5005)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    partition_queries()
    index_queries()
    cheap_reads()
    cheap_transactions()
    cheap_receives()

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
        request_handler=QuietRequestHandler,
    )


if __name__ == "__main__":
    main()
