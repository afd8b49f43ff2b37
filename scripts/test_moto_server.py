#!/usr/bin/env python3
"""Checks that moto_server's changes (partition_queries, index_queries, cheap_reads,
cheap_transactions, cheap_receives) change no answer of moto's, only its cost.

A table of several partitions, whose items hold every kind of attribute value, is read page by
page with a spread of Queries (forward and backward, key conditions, filters, projections of
top-level, nested and indexed names, small and large pages), and by Scan and GetItem, first by
moto as it ships and then with the changes on; every answer's body, as sent over the wire,
must be the same. A run of transactions (applied, cancelled by a condition, with ALL_OLD, naming
an item twice) must leave the same answers, the same table and the same stream records.

    .venv/bin/python scripts/test_moto_server.py
"""
import json
import os
import random
import sys

import boto3
from moto import mock_aws

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import moto_server  # noqa: E402

# The check runs against moto's in-process mock. boto3 honours AWS_ENDPOINT_URL (which
# scripts/test.sh exports for the Rust tests): left set, it would send these requests to the
# moto server on loopback instead, where a table of an earlier run may already exist.
for _name in list(os.environ):
    if _name.startswith("AWS_ENDPOINT_URL"):
        del os.environ[_name]

QUERIES = [
    {"KeyConditionExpression": "PK = :pk"},
    {"KeyConditionExpression": "PK = :pk AND begins_with(SK, :p)", "p": "PA#"},
    {"KeyConditionExpression": "PK = :pk AND begins_with(SK, :p)", "p": "AG#"},
    {"KeyConditionExpression": "PK = :pk AND SK BETWEEN :a AND :b", "a": "AG#2", "b": "PA#5"},
    {"KeyConditionExpression": "PK = :pk AND SK > :a", "a": "PA#3"},
    {"KeyConditionExpression": "PK = :pk AND SK <= :a", "a": "PA#3"},
    {"KeyConditionExpression": "PK = :pk AND SK < :a", "a": "PA#3"},
    {"KeyConditionExpression": "PK = :pk AND SK >= :a", "a": "AG#5"},
    {"KeyConditionExpression": "PK = :pk AND SK = :a", "a": "PA#é"},
    {"KeyConditionExpression": "PK = :pk AND begins_with(SK, :p)", "p": "Q#"},
    {"KeyConditionExpression": "PK = :pk", "FilterExpression": "n > :n", "n": 50},
    {"KeyConditionExpression": "PK = :pk", "ProjectionExpression": "SK, n"},
    {"KeyConditionExpression": "PK = :pk AND begins_with(SK, :p)", "p": "PA#",
     "ProjectionExpression": "#a, #b", "Names": {"#a": "id", "#b": "account_id"}},
    {"KeyConditionExpression": "PK = :pk", "ProjectionExpression": "m.a, l[1], ss, b, flag"},
    {"KeyConditionExpression": "PK = :pk", "ProjectionExpression": "PK, nothing, #e, nul", "Names": {"#e": "empty"}},
    {"KeyConditionExpression": "PK = :pk", "FilterExpression": "n > :n", "n": 30,
     "ProjectionExpression": "id, ns, l"},
]


def bodies(client):
    """The bodies of the client's answers as sent, decoded, in order."""
    sent = []

    def keep(response_dict, **_):
        sent.append(json.loads(response_dict["body"]))

    client.meta.events.register("before-parse.dynamodb.*", keep)
    return sent


def pages(read, args):
    """Every page of a Query or Scan, from the first to the one without LastEvaluatedKey."""
    answers = []
    start = None
    for _ in range(1000):
        if start:
            args["ExclusiveStartKey"] = start
        page = read(**args)
        answers.append((page["Items"], page["Count"], page.get("LastEvaluatedKey")))
        start = page.get("LastEvaluatedKey")
        if not start:
            break
    return answers


def run(client, table):
    answers = []
    for pk in ["P#0", "P#1", "P#2", "P#missing"]:
        for query in QUERIES:
            for forward in (True, False):
                for limit in (None, 5, 64):
                    values = {":pk": {"S": pk}}
                    for name in ("p", "a", "b"):
                        if name in query:
                            values[":" + name] = {"S": query[name]}
                    if "n" in query:
                        values[":n"] = {"N": str(query["n"])}
                    args = {
                        "TableName": table,
                        "KeyConditionExpression": query["KeyConditionExpression"],
                        "ExpressionAttributeValues": values,
                        "ScanIndexForward": forward,
                    }
                    for key in ("FilterExpression", "ProjectionExpression"):
                        if key in query:
                            args[key] = query[key]
                    if "Names" in query:
                        args["ExpressionAttributeNames"] = query["Names"]
                    if limit:
                        args["Limit"] = limit
                    answers += pages(client.query, args)
    # Scans and GetItems go through the same writing of attribute values.
    for projection in (None, "SK, m, l, bs"):
        args = {"TableName": table, "Limit": 50}
        if projection:
            args["ProjectionExpression"] = projection
        answers += pages(client.scan, args)
    for item in client.scan(TableName=table, Limit=10)["Items"]:
        key = {"PK": item["PK"], "SK": item["SK"]}
        answers.append(client.get_item(TableName=table, Key=key).get("Item"))
        answers.append(client.get_item(TableName=table, Key=key,
                                       ProjectionExpression="n, m.b").get("Item"))
    return answers


def full_item(rng, pk, sk):
    """An item of strings and numbers; one in three also holds every other kind of value."""
    n = rng.randrange(100)
    item = {
        "PK": {"S": pk},
        "SK": {"S": sk},
        "n": {"N": str(n)},
        "id": {"S": f"01J{rng.randrange(10**9):09d}"},
        "account_id": {"S": f"01K{rng.randrange(10**9):09d}"},
        "empty": {"S": ""},
    }
    if n % 3 == 0:
        item.update({
            "nul": {"NULL": True},
            "flag": {"BOOL": n % 2 == 0},
            "b": {"B": bytes([n, 0, 255])},
            "m": {"M": {"a": {"S": "é"}, "b": {"N": "1.50"}, "c": {"L": [{"S": "x"}]}}},
            "l": {"L": [{"S": "first"}, {"N": str(n)}, {"M": {"k": {"BOOL": False}}}]},
            "ss": {"SS": ["a", "b"]},
            "ns": {"NS": ["1", "2.5"]},
            "bs": {"BS": [b"\x00", b"\x01"]},
        })
    return item


def create_table(client, name):
    client.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": "PK", "KeyType": "HASH"},
            {"AttributeName": "SK", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "PK", "AttributeType": "S"},
            {"AttributeName": "SK", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def transactions(client, streams, table):
    """A run of TransactWriteItems: each answer (or error and its reasons), then the table and
    its stream records."""
    client.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"},
                   {"AttributeName": "SK", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"},
                              {"AttributeName": "SK", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )

    def key(name):
        return {"PK": {"S": "P"}, "SK": {"S": name}}

    def put(name, n, condition=None):
        op = {"TableName": table, "Item": {**key(name), "n": {"N": str(n)}}}
        if condition:
            op["ConditionExpression"] = condition
        return {"Put": op}

    def add(name, n, condition=None, all_old=False):
        op = {"TableName": table, "Key": key(name), "UpdateExpression": "ADD n :n",
              "ExpressionAttributeValues": {":n": {"N": str(n)}}}
        if condition:
            op["ConditionExpression"] = condition
        if all_old:
            op["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        return {"Update": op}

    def delete(name):
        return {"Delete": {"TableName": table, "Key": key(name)}}

    def check(name, condition):
        return {"ConditionCheck": {"TableName": table, "Key": key(name),
                                   "ConditionExpression": condition}}

    runs = [
        [put("a", 1), put("b", 2), put("c", 3)],
        [add("a", 10), delete("b"), check("c", "attribute_exists(PK)")],
        # Cancelled by the last action: the writes before it must be undone.
        [put("d", 4), add("a", 5), delete("c"), check("zz", "attribute_exists(PK)")],
        # Cancelled by the first, with the item's old image in the reasons.
        [add("a", 1, "n < :n", all_old=True), put("e", 5), add("new", 7)],
        [put("f", 6, "attribute_not_exists(PK)"), add("f", 1)],
        [put("g", 7), add("g", 1, "attribute_exists(PK)")],
        [add("h", 1), put("i", 100), check("a", "n = :one")],
    ]
    outcomes = []
    for actions in runs:
        for action in actions:
            op = next(iter(action.values()))
            if "n = :one" in op.get("ConditionExpression", ""):
                op["ExpressionAttributeValues"] = {":one": {"N": "1"}}
        try:
            client.transact_write_items(TransactItems=actions)
            outcomes.append("ok")
        except client.exceptions.ClientError as e:
            outcomes.append((e.response["Error"]["Code"], e.response.get("CancellationReasons")))
    items = sorted(client.scan(TableName=table)["Items"], key=lambda i: i["SK"]["S"])
    arn = client.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard,
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    records = [(r["eventName"], r["dynamodb"].get("OldImage"), r["dynamodb"].get("NewImage"))
               for r in streams.get_records(ShardIterator=iterator)["Records"]]
    return outcomes, items, records


INDEX_QUERIES = [
    {"KeyConditionExpression": "GPK = :pk"},
    {"KeyConditionExpression": "GPK = :pk AND begins_with(GSK, :p)", "p": "A#"},
    {"KeyConditionExpression": "GPK = :pk AND GSK BETWEEN :a AND :b", "a": "A#2", "b": "B#5"},
    {"KeyConditionExpression": "GPK = :pk AND GSK > :a", "a": "A#5"},
    {"KeyConditionExpression": "GPK = :pk AND GSK <= :a", "a": "B#3"},
    {"KeyConditionExpression": "GPK = :pk AND GSK < :a", "a": "B#3"},
    {"KeyConditionExpression": "GPK = :pk AND GSK = :a", "a": "A#1"},
    {"KeyConditionExpression": "GPK = :pk", "FilterExpression": "n > :n", "n": 50},
    {"KeyConditionExpression": "GPK = :pk", "ProjectionExpression": "SK, n, GSK"},
]


def create_indexed_table(client, name):
    """A streamed table with an index of all attributes and one of keys only, as the
    project's own table has."""
    client.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": "PK", "KeyType": "HASH"},
            {"AttributeName": "SK", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": name, "AttributeType": "S"}
            for name in ("PK", "SK", "GPK", "GSK", "KPK", "KSK")
        ],
        GlobalSecondaryIndexes=[
            {"IndexName": "GSI", "KeySchema": [
                {"AttributeName": "GPK", "KeyType": "HASH"},
                {"AttributeName": "GSK", "KeyType": "RANGE"}],
             "Projection": {"ProjectionType": "ALL"}},
            {"IndexName": "KEYS", "KeySchema": [
                {"AttributeName": "KPK", "KeyType": "HASH"},
                {"AttributeName": "KSK", "KeyType": "RANGE"}],
             "Projection": {"ProjectionType": "KEYS_ONLY"}},
        ],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        BillingMode="PAY_PER_REQUEST",
    )


def indexed_item(rng, n):
    """An item in a partition of each index, or of one, or of none (no sort key); index sort
    keys repeat, so the table's keys order them."""
    item = full_item(rng, f"P#{rng.randrange(4)}", f"S#{n:04d}")
    if rng.random() < 0.85:
        item["GPK"] = {"S": f"G#{rng.randrange(3)}"}
        if rng.random() < 0.9:
            item["GSK"] = {"S": f"{rng.choice('AB')}#{rng.randrange(8)}"}
    if rng.random() < 0.5:
        item["KPK"] = {"S": "K#0"}
        item["KSK"] = {"S": f"{rng.randrange(5)}"}
    return item


def index_reads(client, table):
    answers = []
    for index, pk in [("GSI", "G#0"), ("GSI", "G#1"), ("GSI", "G#2"), ("GSI", "G#none"), ("KEYS", "K#0")]:
        for query in INDEX_QUERIES if index == "GSI" else INDEX_QUERIES[:1]:
            for forward in (True, False):
                for limit in (None, 5):
                    condition = query["KeyConditionExpression"]
                    if index == "KEYS":
                        condition = "KPK = :pk"
                    values = {":pk": {"S": pk}}
                    for name in ("p", "a", "b"):
                        if name in query:
                            values[":" + name] = {"S": query[name]}
                    if "n" in query:
                        values[":n"] = {"N": str(query["n"])}
                    args = {"TableName": table, "IndexName": index,
                            "KeyConditionExpression": condition,
                            "ExpressionAttributeValues": values, "ScanIndexForward": forward}
                    for key in ("FilterExpression", "ProjectionExpression"):
                        if key in query:
                            args[key] = query[key]
                    if limit:
                        args["Limit"] = limit
                    answers += pages(client.query, args)
    return answers


def index_changes(client, table, rng):
    """Reads between writes of every kind that moves an item in or out of an index partition
    or changes its place: UpdateItem, PutItem over an item, DeleteItem, BatchWriteItem, an
    applied transaction and one cancelled by its condition."""
    answers = []
    key = lambda n: {"PK": {"S": f"P#{n % 4}"}, "SK": {"S": f"S#{n:04d}"}}  # noqa: E731
    scanned = client.scan(TableName=table)["Items"]
    keys = [{"PK": i["PK"], "SK": i["SK"]} for i in scanned]
    keys.sort(key=lambda k: (k["PK"]["S"], k["SK"]["S"]))
    for n, k in enumerate(keys[:30]):
        kind = n % 5
        if kind == 0:
            client.update_item(TableName=table, Key=k, UpdateExpression="SET GSK = :s",
                               ExpressionAttributeValues={":s": {"S": f"A#{rng.randrange(8)}"}})
        elif kind == 1:
            client.update_item(TableName=table, Key=k, UpdateExpression="REMOVE GPK")
        elif kind == 2:
            client.update_item(TableName=table, Key=k,
                               UpdateExpression="SET GPK = :p, GSK = :s, KPK = :k, KSK = :s",
                               ExpressionAttributeValues={":p": {"S": "G#1"}, ":s": {"S": "B#0"},
                                                          ":k": {"S": "K#0"}})
        elif kind == 3:
            client.delete_item(TableName=table, Key=k)
        else:
            item = indexed_item(rng, 9000 + n)
            item.update(k)
            client.put_item(TableName=table, Item=item)
        if n == 14:
            answers += index_reads(client, table)
    client.batch_write_item(RequestItems={table: [
        {"PutRequest": {"Item": {**indexed_item(rng, 9500 + n), **key(9500 + n)}}}
        for n in range(10)] + [{"DeleteRequest": {"Key": k}} for k in keys[30:35]]})
    answers += index_reads(client, table)
    client.transact_write_items(TransactItems=[
        {"Update": {"TableName": table, "Key": keys[40], "UpdateExpression": "SET GSK = :s",
                    "ExpressionAttributeValues": {":s": {"S": "A#0"}}}},
        {"Put": {"TableName": table, "Item": {**indexed_item(rng, 9700), **key(9700)}}},
    ])
    try:
        client.transact_write_items(TransactItems=[
            {"Update": {"TableName": table, "Key": keys[41], "UpdateExpression": "SET GPK = :p",
                        "ExpressionAttributeValues": {":p": {"S": "G#2"}}}},
            {"Put": {"TableName": table, "Item": {**indexed_item(rng, 9701), **key(9701)}}},
            {"Update": {"TableName": table, "Key": keys[42], "UpdateExpression": "SET n = :n",
                        "ConditionExpression": "attribute_not_exists(PK)",
                        "ExpressionAttributeValues": {":n": {"N": "1"}}}},
        ])
        answers.append("not cancelled")
    except client.exceptions.TransactionCanceledException:
        answers.append("cancelled")
    answers += index_reads(client, table)
    return answers


def index_check(client, table, seed):
    """Every index answer of a fresh streamed table, then of it through a run of writes."""
    create_indexed_table(client, table)
    rng = random.Random(seed)
    for n in range(120):
        client.put_item(TableName=table, Item=indexed_item(rng, n))
    return index_reads(client, table) + index_changes(client, table, rng)


def retention(name):
    """What the retention check decides of a fresh message and of one past the period, and what
    a ReceiveMessage answers of the queue."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sqs.models import sqs_backends

    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName=name, Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
    for body in ("fresh", "old"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    backend = sqs_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    fresh, old = backend.get_queue(name)._messages
    old.sent_timestamp -= 120_000
    decided = [backend.is_message_valid_based_on_retention_period(name, m) for m in (fresh, old)]
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    # SendMessage's reading of ContentBasedDeduplication: on, off, and a standard queue.
    counts = []
    for suffix, attributes in [
        ("-on.fifo", {"FifoQueue": "true", "ContentBasedDeduplication": "true"}),
        ("-off.fifo", {"FifoQueue": "true", "ContentBasedDeduplication": "false"}),
        ("-standard", {}),
    ]:
        url = sqs.create_queue(QueueName=name + suffix, Attributes=attributes)["QueueUrl"]
        fifo = {"MessageGroupId": "g"} if "FifoQueue" in attributes else {}
        for n in range(3):
            extra = dict(fifo)
            if suffix == "-off.fifo":
                extra["MessageDeduplicationId"] = f"d{n % 2}"
            sqs.send_message(QueueUrl=url, MessageBody="same", **extra)
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        counts.append((attrs["ApproximateNumberOfMessages"], attrs.get("ContentBasedDeduplication")))
    return decided, sorted(m["Body"] for m in received), counts


@mock_aws
def main() -> None:
    shipped_retention = retention("shipped")
    moto_server.cheap_receives()
    patched_retention = retention("patched")
    assert shipped_retention == patched_retention, (shipped_retention, patched_retention)
    assert patched_retention[:2] == ([True, False], ["fresh"]), patched_retention
    assert [c for c, _ in patched_retention[2]] == ["1", "2", "3"], patched_retention
    print("moto_server.cheap_receives: the retention check, ReceiveMessage, SendMessage's "
          "deduplication and the queue's attributes answer as moto's own")
    client = boto3.client("dynamodb", region_name="us-east-1")
    streams = boto3.client("dynamodbstreams", region_name="us-east-1")
    shipped_transactions = transactions(client, streams, "tx1")
    shipped_index = index_check(client, "g1", 11)
    create_table(client, "t")
    rng = random.Random(7)
    for i in range(200):
        prefix = rng.choice(["PA#", "AG#", "Z#", "PA#é", "Q#"])
        client.put_item(TableName="t", Item=full_item(
            rng, f"P#{rng.randrange(3)}", f"{prefix}{rng.randrange(10**6)}"))
    sent = bodies(client)
    shipped = run(client, "t")
    shipped_bodies = list(sent)
    # A change between two readings: as many keys of a partition go as come, so only its set
    # of keys changes, not its size; the answers must change with it.
    more = [full_item(rng, "P#1", f"PA#x{rng.randrange(10**6)}") for _ in range(20)]
    gone = client.query(
        TableName="t", KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": "P#1"}})["Items"][:20]

    def change(table):
        for new in more:
            client.put_item(TableName=table, Item=new)
        for item in gone:
            client.delete_item(TableName=table, Key={"PK": item["PK"], "SK": item["SK"]})

    change("t")
    del sent[:]
    shipped_after = run(client, "t")
    shipped_after_bodies = list(sent)
    for new in more:
        client.delete_item(TableName="t", Key={"PK": new["PK"], "SK": new["SK"]})
    for item in gone:
        client.put_item(TableName="t", Item=item)
    moto_server.partition_queries()
    moto_server.index_queries()
    moto_server.cheap_reads()
    moto_server.cheap_transactions()
    patched_index = index_check(client, "g2", 11)
    assert len(shipped_index) == len(patched_index), (len(shipped_index), len(patched_index))
    for n, (a, b) in enumerate(zip(shipped_index, patched_index)):
        assert a == b, f"index answer {n} differs:\n{str(a)[:600]}\n{str(b)[:600]}"
    assert "cancelled" in patched_index and len(patched_index) > 500, len(patched_index)
    print(f"moto_server.index_queries: {len(patched_index)} index Query pages, read between "
          "writes of every kind, equal to moto's own")
    patched_transactions = transactions(client, streams, "tx2")
    for n, (a, b) in enumerate(zip(shipped_transactions, patched_transactions)):
        assert a == b, f"transactions: {['answers', 'table', 'stream'][n]} differ:\n{a}\n{b}"
    outcomes, items, records = patched_transactions
    assert outcomes.count("ok") == 2 and len(records) == 5, (outcomes, records)
    assert sum(1 for o in outcomes if o[0] == "TransactionCanceledException") == 3, outcomes
    # Tables created from here on hold their partitions in moto_server's partition type.
    create_table(client, "u")
    for item in client.scan(TableName="t")["Items"]:
        client.put_item(TableName="u", Item=item)
    del sent[:]
    patched = run(client, "u") + run(client, "t")
    patched_bodies = list(sent)
    shipped = shipped + shipped
    shipped_bodies = shipped_bodies + shipped_bodies
    change("u")
    del sent[:]
    patched_after = run(client, "u")
    patched_after_bodies = list(sent)
    # The wire: table names are the only difference between "t" and "u".
    for n, (a, b) in enumerate(zip(shipped_bodies, patched_bodies)):
        assert a == b, f"answer {n} differs on the wire:\n{str(a)[:400]}\n{str(b)[:400]}"
    assert len(shipped_bodies) == len(patched_bodies), (len(shipped_bodies), len(patched_bodies))
    assert shipped_after_bodies == patched_after_bodies, "answers differ on the wire after the change"
    assert len(shipped_after) == len(patched_after), (len(shipped_after), len(patched_after))
    assert shipped_after == patched_after, "answers differ after the keys changed"
    assert len(shipped) == len(patched), (len(shipped), len(patched))
    for n, (a, b) in enumerate(zip(shipped, patched)):
        assert a == b, f"page {n} differs:\n{str(a)[:400]}\n{str(b)[:400]}"
    print(f"moto_server.partition_queries, cheap_reads: {len(patched_bodies)} answers "
          "(Query and Scan pages, GetItems), all equal to moto's own on the wire")
    print(f"moto_server.cheap_transactions: {len(outcomes)} transactions ({outcomes.count('ok')} "
          f"applied), the table ({len(items)} items) and its {len(records)} stream records "
          "equal to moto's own")


if __name__ == "__main__":
    main()
