#!/usr/bin/env python3
"""Checks that moto_server.partition_queries changes no answer of moto's, only its cost.

A table of several partitions is read page by page with a spread of Queries (forward and
backward, key conditions, filters, projections, small and large pages), first by moto as it
ships and then with the partition reads on; every page, count and LastEvaluatedKey must match.

    .venv/bin/python scripts/test_moto_server.py
"""
import os
import random
import sys

import boto3
from moto import mock_aws

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import moto_server  # noqa: E402

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
]


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
                    if limit:
                        args["Limit"] = limit
                    start = None
                    for _ in range(1000):
                        if start:
                            args["ExclusiveStartKey"] = start
                        page = client.query(**args)
                        answers.append(
                            (page["Items"], page["Count"], page.get("LastEvaluatedKey"))
                        )
                        start = page.get("LastEvaluatedKey")
                        if not start:
                            break
    return answers


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


@mock_aws
def main() -> None:
    client = boto3.client("dynamodb", region_name="us-east-1")
    create_table(client, "t")
    rng = random.Random(7)
    for i in range(200):
        prefix = rng.choice(["PA#", "AG#", "Z#", "PA#é", "Q#"])
        client.put_item(
            TableName="t",
            Item={
                "PK": {"S": f"P#{rng.randrange(3)}"},
                "SK": {"S": f"{prefix}{rng.randrange(10**6)}"},
                "n": {"N": str(rng.randrange(100))},
            },
        )
    shipped = run(client, "t")
    # A change between two readings: as many keys of a partition go as come, so only its set
    # of keys changes, not its size; the answers must change with it.
    more = [f"PA#x{rng.randrange(10**6)}" for _ in range(20)]
    gone = client.query(
        TableName="t", KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": "P#1"}})["Items"][:20]

    def change(table):
        for sk in more:
            client.put_item(TableName=table, Item={"PK": {"S": "P#1"}, "SK": {"S": sk}, "n": {"N": "1"}})
        for item in gone:
            client.delete_item(TableName=table, Key={"PK": item["PK"], "SK": item["SK"]})

    change("t")
    shipped_after = run(client, "t")
    for sk in more:
        client.delete_item(TableName="t", Key={"PK": {"S": "P#1"}, "SK": {"S": sk}})
    for item in gone:
        client.put_item(TableName="t", Item=item)
    moto_server.partition_queries()
    # Tables created from here on hold their partitions in moto_server's partition type.
    create_table(client, "u")
    for item in client.scan(TableName="t")["Items"]:
        client.put_item(TableName="u", Item=item)
    patched = run(client, "u") + run(client, "t")
    shipped = shipped + shipped
    change("u")
    patched_after = run(client, "u")
    assert len(shipped_after) == len(patched_after), (len(shipped_after), len(patched_after))
    assert shipped_after == patched_after, "answers differ after the keys changed"
    assert len(shipped) == len(patched), (len(shipped), len(patched))
    for n, (a, b) in enumerate(zip(shipped, patched)):
        assert a == b, f"page {n} differs:\n{a}\n{b}"
    print(f"moto_server.partition_queries: {len(patched)} pages, all equal to moto's own")


if __name__ == "__main__":
    main()
