#!/usr/bin/env python3
"""The local endpoint's cost of the bulk worker's chunk Query, with moto as it ships and with
moto_server.py's read changes, side by side in one process (moto's in-process mock, no HTTP).

A partition of provider-account-shaped items (13 attributes) is read as the worker reads a
chunk: `PK = :pk AND begins_with(SK, :prefix)`, Limit 1,000, consistent, projecting `id` and
`account_id`. Rounds alternate between the variants so a noisy machine moves them alike; each
variant's median is printed, and its ratio to moto's own. Every variant's answer must be the
same. Not part of `make test` (see docs/benchmarks.md).

    .venv/bin/python scripts/bench_moto_reads.py [--items 3000] [--rounds 7]
"""
import argparse
import os
import statistics
import sys
import time

import boto3
from moto import mock_aws

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import moto_server  # noqa: E402
from test_moto_server import create_table  # noqa: E402  (the check's table: PK, SK strings)

PROVIDER = "01JABCDEFGHJKMNPQRSTVWXYZ0"
CHUNK = 1000


def provider_account(i):
    """An item shaped like a stored provider account."""
    return {
        "PK": {"S": f"PROVIDER#{PROVIDER}"}, "SK": {"S": f"PA#tenant-{i:08d}"},
        "GSI1PK": {"S": f"ACCOUNT#01JACCOUNT{i:016d}"}, "GSI1SK": {"S": f"PA#{PROVIDER}#x"},
        "entity": {"S": "provider_account"}, "id": {"S": f"01JPA{i:021d}"},
        "account_id": {"S": f"01JACCOUNT{i:016d}"}, "provider_id": {"S": PROVIDER},
        "provider_specific_id": {"S": f"tenant-{i:08d}"},
        "email_domain": {"S": f"customer{i}.example.com"}, "name": {"S": f"Customer {i}"},
        "created_at": {"S": "2026-11-25T10:00:00Z"}, "updated_at": {"S": "2026-11-25T10:00:00Z"},
    }


def chunk_query(client, table):
    """The worker's chunk Query (Store::chunk_of with the bulk job's attributes)."""
    return client.query(
        TableName=table, ConsistentRead=True, Limit=CHUNK,
        KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
        ExpressionAttributeValues={":pk": {"S": f"PROVIDER#{PROVIDER}"}, ":prefix": {"S": "PA#"}},
        ProjectionExpression="#a0, #a1",
        ExpressionAttributeNames={"#a0": "id", "#a1": "account_id"},
    )


@mock_aws
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=3000,
                        help=f"provider accounts in the partition (at least {CHUNK})")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    items = max(args.items, CHUNK)

    # Each change patches moto's classes for good: the shipped code is kept beside each
    # change's and put back between rounds. The table is made after the changes, as the
    # server's tables are (partition_queries keeps a partition's items in a dict type of its
    # own, which the shipped code reads as any dict).
    from moto.core.serialize import BaseJSONSerializer
    from moto.dynamodb.models import table as table_module
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.models.table import Table

    def state():
        return (Table.__dict__["query"], Table.__dict__["all_items"], Item.__dict__["project"],
                BaseJSONSerializer.__dict__["_serialize_type_structure"], table_module.copy)

    def restore(saved):
        query, all_items, project, structure, copy_module = saved
        Table.query, Table.all_items, Item.project = query, all_items, project
        BaseJSONSerializer._serialize_type_structure = structure
        table_module.copy = copy_module

    variants = {"moto as it ships": state()}
    moto_server.partition_queries()
    variants["+ partition reads"] = state()
    moto_server.cheap_reads()
    variants["+ cheap reads (the server)"] = state()

    client = boto3.client("dynamodb", region_name="us-east-1")
    create_table(client, "t")
    for i in range(items):
        client.put_item(TableName="t", Item=provider_account(i))

    expected = None
    times = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, saved in variants.items():
            restore(saved)
            started = time.perf_counter()
            answer = chunk_query(client, "t")
            times[name].append(time.perf_counter() - started)
            page = (answer["Items"], answer["Count"], answer.get("LastEvaluatedKey"))
            expected = expected or page
            assert page == expected, f"{name}: a different answer"
    restore(variants["+ cheap reads (the server)"])

    shipped = statistics.median(times["moto as it ships"])
    print(f"chunk Query ({CHUNK} of {items} provider accounts, 2 attributes), "
          f"median of {args.rounds} rounds:")
    for name, samples in times.items():
        median = statistics.median(samples)
        print(f"  {name:<28}{median * 1e3:8.1f} ms  {median / shipped:5.2f} of moto's own")


if __name__ == "__main__":
    main()
