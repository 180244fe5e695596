"""The Table contract, run against every adapter: SQLite (embedded runtime) and DynamoDB (under moto).

The repositories are written once on top of this port, so both adapters must agree on everything the repositories can
observe: exact round trips, conditional writes, key order, paging and all-or-nothing transactions. The
adapter-specific tests at the end cover what only one adapter can get wrong (its storage layout, its failure mapping).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto import mock_aws

from openpeek.adapters.aws.dynamodb_table import DynamoDbTable
from openpeek.adapters.local.sqlite_table import SqliteTable
from openpeek.domain.failures import ConditionFailed, DependencyUnavailable
from openpeek.domain.records import Delete, Put
from openpeek.ports import Table

REGION = "us-east-1"
ORG = "ORG#org_1"


def _create_dynamodb_table(client: Any, name: str) -> None:
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": "gsi1pk", "AttributeType": "S"},
            {"AttributeName": "gsi1sk", "AttributeType": "S"},
        ],
        # The deployed table's index (stacks/data.py): query_index reads it.
        GlobalSecondaryIndexes=[
            {
                "IndexName": "gsi1",
                "KeySchema": [
                    {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                    {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )


@pytest.fixture(scope="module")
def dynamodb() -> Any:
    """One mocked DynamoDB for the module: building a boto3 client costs ~0.2 s, a table a few milliseconds."""
    with pytest.MonkeyPatch.context() as env:
        # Fake credentials, so nothing can reach a real account even if a call escaped the mock.
        for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_ENDPOINT_URL"):
            env.delenv(name, raising=False)
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        env.setenv("AWS_SESSION_TOKEN", "testing")
        env.setenv("AWS_DEFAULT_REGION", REGION)
        with mock_aws():
            yield boto3.client("dynamodb", region_name=REGION)


@pytest.fixture
def table_name(dynamodb: Any):
    name = f"openpeek-test-{uuid.uuid4().hex}"
    _create_dynamodb_table(dynamodb, name)
    yield name
    dynamodb.delete_table(TableName=name)


@pytest.fixture(params=["sqlite", "dynamodb"])
def table(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "sqlite":
        sqlite_table = SqliteTable(tmp_path / "data" / "table.db")
        yield sqlite_table
        sqlite_table.close()
        return
    yield DynamoDbTable(request.getfixturevalue("table_name"), client=request.getfixturevalue("dynamodb"))


def assert_identical(actual: Any, expected: Any, path: str = "item") -> None:
    """Equality that also tells 1 from 1.0 and True from 1, which `==` does not."""
    assert type(actual) is type(expected), f"{path}: {type(actual).__name__} != {type(expected).__name__}"
    if isinstance(expected, dict):
        assert actual.keys() == expected.keys(), path
        for key in expected:
            assert_identical(actual[key], expected[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert len(actual) == len(expected), path
        for index, (left, right) in enumerate(zip(actual, expected)):
            assert_identical(left, right, f"{path}[{index}]")
    else:
        assert actual == expected, path


def sks(items: list[dict[str, Any]]) -> list[str]:
    return [item["sk"] for item in items]


def _put_sks(table: Table, pk: str, keys: list[str]) -> None:
    for sk in keys:
        table.put({"pk": pk, "sk": sk})


# -- get and put -----------------------------------------------------------------------------------------------------


def test_get_of_a_missing_item_returns_none(table: Table) -> None:
    table.put({"pk": ORG, "sk": "NS#ns_1"})

    assert table.get(ORG, "NS#ns_2") is None
    assert table.get("ORG#other", "NS#ns_1") is None


def test_items_round_trip_with_exact_types_and_nesting(table: Table) -> None:
    item = {
        "pk": ORG,
        "sk": "NS#ns_1",
        "version": 3,
        "expires_at": 1_900_000_000,
        "gsi1pk": "NSNAME#docs",
        "gsi1sk": "",
        "doc": "an attribute that shares its name with the adapter's storage column",
        "name": "Ünïcödé ✓ \"quoted\" \\ \n",
        "empty": "",
        "zero": 0,
        "negative": -42,
        "big": 2**70,
        "huge": 10**40,
        "tenth": 0.1,
        "whole_float": 1.0,
        "tiny": 5e-324,
        "large_float": 1.7976931348623157e308,
        "negative_float": -2.5,
        "yes": True,
        "no": False,
        "nothing": None,
        "empty_list": [],
        "empty_map": {},
        "mixed": [1, 1.0, "1", True, None, [0.1, [2**64]], {"k": [{"deep": 0.30000000000000004}]}],
        "nested": {"a": {"b": {"c": [1, 2, 3], "d": None, "e": 2.5}}, "f": False},
    }
    table.put(item)

    assert_identical(table.get(ORG, "NS#ns_1"), item)
    assert_identical(table.query(ORG, "NS#"), [item])


def test_version_and_expiry_may_be_null(table: Table) -> None:
    item = {"pk": ORG, "sk": "NS#ns_1", "version": None, "expires_at": None}
    table.put(item)

    assert_identical(table.get(ORG, "NS#ns_1"), item)


def test_put_replaces_the_whole_item(table: Table) -> None:
    table.put({"pk": ORG, "sk": "NS#ns_1", "name": "first", "description": "gone after the second put", "version": 1})
    table.put({"pk": ORG, "sk": "NS#ns_1", "name": "second", "version": 2})

    assert_identical(table.get(ORG, "NS#ns_1"), {"pk": ORG, "sk": "NS#ns_1", "name": "second", "version": 2})


@pytest.mark.parametrize(
    "item",
    [
        {"pk": "", "sk": "NS#ns_1"},
        {"pk": ORG, "sk": ""},
        {"sk": "NS#ns_1"},
        {"pk": ORG, "sk": 7},
        {"pk": ORG, "sk": "NS#ns_1", "score": float("nan")},
        {"pk": ORG, "sk": "NS#ns_1", "score": float("inf")},
        {"pk": ORG, "sk": "NS#ns_1", "blob": b"bytes"},
        {"pk": ORG, "sk": "NS#ns_1", "version": "3"},
        {"pk": ORG, "sk": "NS#ns_1", "version": 1.5},
        {"pk": ORG, "sk": "NS#ns_1", "expires_at": True},
    ],
    ids=["empty-pk", "empty-sk", "no-pk", "int-sk", "nan", "inf", "bytes", "str-version", "float-version", "bool-ttl"],
)
def test_put_refuses_an_item_the_contract_does_not_allow(table: Table, item: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        table.put(item)

    assert table.query(ORG) == []


# -- conditional puts ------------------------------------------------------------------------------------------------


def test_put_if_absent_writes_a_new_item(table: Table) -> None:
    table.put({"pk": ORG, "sk": "NS#ns_1", "name": "docs"}, if_absent=True)

    assert table.get(ORG, "NS#ns_1") == {"pk": ORG, "sk": "NS#ns_1", "name": "docs"}


def test_put_if_absent_fails_on_an_existing_item_and_leaves_it(table: Table) -> None:
    table.put({"pk": ORG, "sk": "NS#ns_1", "name": "original"})

    with pytest.raises(ConditionFailed):
        table.put({"pk": ORG, "sk": "NS#ns_1", "name": "intruder"}, if_absent=True)

    assert table.get(ORG, "NS#ns_1") == {"pk": ORG, "sk": "NS#ns_1", "name": "original"}


def test_put_if_absent_looks_at_the_full_key(table: Table) -> None:
    table.put({"pk": ORG, "sk": "NS#ns_1"})

    table.put({"pk": ORG, "sk": "NS#ns_2"}, if_absent=True)
    table.put({"pk": "ORG#org_2", "sk": "NS#ns_1"}, if_absent=True)

    assert sks(table.query(ORG)) == ["NS#ns_1", "NS#ns_2"]
    assert sks(table.query("ORG#org_2")) == ["NS#ns_1"]


def test_put_if_version_writes_when_the_version_matches(table: Table) -> None:
    table.put({"pk": ORG, "sk": "NS#ns_1", "name": "v1", "version": 1})

    table.put({"pk": ORG, "sk": "NS#ns_1", "name": "v2", "version": 2}, if_version=1)

    assert table.get(ORG, "NS#ns_1") == {"pk": ORG, "sk": "NS#ns_1", "name": "v2", "version": 2}


def test_put_if_version_fails_on_another_version_and_leaves_the_item(table: Table) -> None:
    table.put({"pk": ORG, "sk": "NS#ns_1", "name": "v2", "version": 2})

    with pytest.raises(ConditionFailed):
        table.put({"pk": ORG, "sk": "NS#ns_1", "name": "stale", "version": 2}, if_version=1)

    assert table.get(ORG, "NS#ns_1") == {"pk": ORG, "sk": "NS#ns_1", "name": "v2", "version": 2}


def test_put_if_version_fails_on_a_missing_item_and_writes_nothing(table: Table) -> None:
    with pytest.raises(ConditionFailed):
        table.put({"pk": ORG, "sk": "NS#ns_1", "version": 1}, if_version=0)

    assert table.get(ORG, "NS#ns_1") is None


def test_put_if_version_fails_on_an_item_without_a_version(table: Table) -> None:
    table.put({"pk": ORG, "sk": "NS#ns_1", "name": "unversioned"})

    with pytest.raises(ConditionFailed):
        table.put({"pk": ORG, "sk": "NS#ns_1", "version": 1}, if_version=0)

    assert table.get(ORG, "NS#ns_1") == {"pk": ORG, "sk": "NS#ns_1", "name": "unversioned"}


def test_a_stale_read_modify_write_loses_to_the_first_writer(table: Table) -> None:
    table.put({"pk": ORG, "sk": "NS#ns_1", "counter": 0, "version": 1})
    first = table.get(ORG, "NS#ns_1")
    second = table.get(ORG, "NS#ns_1")

    table.put({**first, "counter": first["counter"] + 1, "version": 2}, if_version=first["version"])
    with pytest.raises(ConditionFailed):
        table.put({**second, "counter": second["counter"] + 10, "version": 2}, if_version=second["version"])

    assert table.get(ORG, "NS#ns_1")["counter"] == 1


# -- delete ----------------------------------------------------------------------------------------------------------


def test_delete_removes_only_that_item(table: Table) -> None:
    _put_sks(table, ORG, ["NS#ns_1", "NS#ns_2"])

    table.delete(ORG, "NS#ns_1")

    assert table.get(ORG, "NS#ns_1") is None
    assert sks(table.query(ORG)) == ["NS#ns_2"]


def test_delete_of_a_missing_item_is_a_no_op(table: Table) -> None:
    table.put({"pk": ORG, "sk": "NS#ns_1"})

    table.delete(ORG, "NS#absent")

    assert sks(table.query(ORG)) == ["NS#ns_1"]


def test_delete_if_exists_fails_on_a_missing_item(table: Table) -> None:
    with pytest.raises(ConditionFailed):
        table.delete(ORG, "NS#absent", if_exists=True)


def test_delete_if_exists_removes_an_existing_item(table: Table) -> None:
    table.put({"pk": ORG, "sk": "NS#ns_1"})

    table.delete(ORG, "NS#ns_1", if_exists=True)

    assert table.get(ORG, "NS#ns_1") is None


def test_delete_if_version_removes_the_item_when_the_version_matches(table: Table) -> None:
    table.put({"pk": ORG, "sk": "NS#ns_1", "version": 4})

    table.delete(ORG, "NS#ns_1", if_version=4)

    assert table.get(ORG, "NS#ns_1") is None


def test_delete_if_version_fails_on_another_version_and_keeps_the_item(table: Table) -> None:
    table.put({"pk": ORG, "sk": "NS#ns_1", "version": 4})

    with pytest.raises(ConditionFailed):
        table.delete(ORG, "NS#ns_1", if_version=3)

    assert table.get(ORG, "NS#ns_1") == {"pk": ORG, "sk": "NS#ns_1", "version": 4}


def test_delete_if_version_fails_on_a_missing_item(table: Table) -> None:
    with pytest.raises(ConditionFailed):
        table.delete(ORG, "NS#absent", if_version=1)


# -- query -----------------------------------------------------------------------------------------------------------


def test_query_returns_the_partition_in_bytewise_sort_key_order(table: Table) -> None:
    # Upper case sorts before lower case, "1" before "9" whatever follows, and "#" (0x23) before "A" (0x41).
    keys = ["NS#b", "NS#9", "NS#10", "NS#B", "NS#a", "NS", "NSNAME#x", "NS#é", "NS#z"]
    _put_sks(table, ORG, keys)

    assert sks(table.query(ORG)) == sorted(keys, key=lambda sk: sk.encode())
    assert sks(table.query(ORG)) == ["NS", "NS#10", "NS#9", "NS#B", "NS#a", "NS#b", "NS#z", "NS#é", "NSNAME#x"]


def test_query_with_a_prefix_returns_exactly_the_items_that_start_with_it(table: Table) -> None:
    _put_sks(table, ORG, ["NS#ns_1", "NS#ns_2", "NSNAME#docs", "ns#lower", "NR#before", "NT#after", "RET#ret_1"])

    assert sks(table.query(ORG, "NS#")) == ["NS#ns_1", "NS#ns_2"]
    assert sks(table.query(ORG, "NS")) == ["NS#ns_1", "NS#ns_2", "NSNAME#docs"]
    assert sks(table.query(ORG, "NSNAME#")) == ["NSNAME#docs"]
    assert sks(table.query(ORG, "ns#")) == ["ns#lower"]
    assert sks(table.query(ORG, "NS#ns_2")) == ["NS#ns_2"]
    assert table.query(ORG, "NS#ns_3") == []


def test_query_prefix_matching_handles_the_highest_characters(table: Table) -> None:
    keys = ["K#~", "K#\x7f", "K#\U0010ffff", "K#\U0010ffffz", "K#\ud7ff", "K#\ue000", "L#"]
    _put_sks(table, ORG, keys)

    assert sks(table.query(ORG, "K#\U0010ffff")) == ["K#\U0010ffff", "K#\U0010ffffz"]
    assert sks(table.query(ORG, "K#\ud7ff")) == ["K#\ud7ff"]
    assert sks(table.query(ORG, "K#")) == ["K#~", "K#\x7f", "K#\ud7ff", "K#\ue000", "K#\U0010ffff", "K#\U0010ffffz"]


def test_query_never_returns_items_of_another_partition(table: Table) -> None:
    _put_sks(table, ORG, ["NS#ns_1"])
    _put_sks(table, ORG + "0", ["NS#ns_other"])
    _put_sks(table, "ORG#org_", ["NS#ns_shorter"])

    assert sks(table.query(ORG)) == ["NS#ns_1"]
    assert sks(table.query(ORG, "NS#")) == ["NS#ns_1"]
    assert table.query("ORG#nobody") == []


def test_query_descending_reverses_the_order(table: Table) -> None:
    _put_sks(table, ORG, ["NS#a", "NS#c", "NS#b", "OTHER#z"])

    assert sks(table.query(ORG, "NS#", descending=True)) == ["NS#c", "NS#b", "NS#a"]


def test_query_limit_returns_the_first_items_in_order(table: Table) -> None:
    _put_sks(table, ORG, [f"NS#{index:02d}" for index in range(10)])

    assert sks(table.query(ORG, "NS#", limit=3)) == ["NS#00", "NS#01", "NS#02"]
    assert sks(table.query(ORG, "NS#", limit=3, descending=True)) == ["NS#09", "NS#08", "NS#07"]
    assert len(table.query(ORG, "NS#", limit=50)) == 10
    assert table.query(ORG, "NS#", limit=0) == []


def test_query_refuses_a_negative_limit(table: Table) -> None:
    with pytest.raises(ValueError):
        table.query(ORG, limit=-1)


def test_query_start_after_continues_after_that_key(table: Table) -> None:
    _put_sks(table, ORG, ["NS#a", "NS#b", "NS#c", "NS#d"])

    assert sks(table.query(ORG, "NS#", start_after="NS#b")) == ["NS#c", "NS#d"]
    assert sks(table.query(ORG, "NS#", start_after="NS#b", descending=True)) == ["NS#a"]
    assert sks(table.query(ORG, "NS#", start_after="NS#d")) == []
    assert sks(table.query(ORG, "NS#", start_after="NS#b", limit=1)) == ["NS#c"]


def test_query_start_after_need_not_be_an_existing_key(table: Table) -> None:
    _put_sks(table, ORG, ["NS#a", "NS#c", "NS#e"])

    assert sks(table.query(ORG, "NS#", start_after="NS#b")) == ["NS#c", "NS#e"]
    assert sks(table.query(ORG, "NS#", start_after="NS#d", descending=True)) == ["NS#c", "NS#a"]
    assert sks(table.query(ORG, start_after="NS#b")) == ["NS#c", "NS#e"]


def test_query_start_after_outside_the_prefix_range(table: Table) -> None:
    _put_sks(table, ORG, ["A#1", "NS#a", "NS#b", "Z#1"])

    assert sks(table.query(ORG, "NS#", start_after="A#1")) == ["NS#a", "NS#b"]
    assert sks(table.query(ORG, "NS#", start_after="Z#1")) == []
    assert sks(table.query(ORG, "NS#", start_after="Z#1", descending=True)) == ["NS#b", "NS#a"]
    assert sks(table.query(ORG, "NS#", start_after="A#1", descending=True)) == []


def test_paging_with_limit_and_start_after_visits_every_item_once(table: Table) -> None:
    keys = [f"TASK#{index:03d}" for index in range(23)]
    _put_sks(table, ORG, keys)
    for descending in (False, True):
        seen: list[str] = []
        cursor: str | None = None
        while True:
            page = sks(table.query(ORG, "TASK#", limit=5, start_after=cursor, descending=descending))
            seen.extend(page)
            if len(page) < 5:
                break
            cursor = page[-1]

        assert seen == sorted(keys, reverse=descending)


def test_query_returns_results_larger_than_one_store_page(table: Table) -> None:
    # DynamoDB pages query results at 1 MB; 24 items of ~60 KB take more than one page.
    filler = "x" * 60_000
    keys = [f"CHUNK#{index:02d}" for index in range(24)]
    for sk in keys:
        table.put({"pk": ORG, "sk": sk, "data": filler})

    everything = table.query(ORG, "CHUNK#")
    first_twenty = table.query(ORG, "CHUNK#", limit=20)

    assert sks(everything) == keys
    assert all(item["data"] == filler for item in everything)
    assert sks(first_twenty) == keys[:20]


# -- transact_write --------------------------------------------------------------------------------------------------


def test_transact_write_applies_every_operation(table: Table) -> None:
    table.put({"pk": ORG, "sk": "NSNAME#old", "namespace_id": "ns_1"})
    table.put({"pk": ORG, "sk": "NS#ns_1", "name": "old", "version": 1})

    table.transact_write(
        [
            Put({"pk": ORG, "sk": "NS#ns_1", "name": "new", "version": 2}, if_version=1),
            Put({"pk": ORG, "sk": "NSNAME#new", "namespace_id": "ns_1"}, if_absent=True),
            Delete(ORG, "NSNAME#old", if_exists=True),
        ]
    )

    assert table.get(ORG, "NS#ns_1") == {"pk": ORG, "sk": "NS#ns_1", "name": "new", "version": 2}
    assert sks(table.query(ORG, "NSNAME#")) == ["NSNAME#new"]


def test_transact_write_writes_nothing_when_a_later_condition_fails(table: Table) -> None:
    table.put({"pk": ORG, "sk": "NS#ns_1", "name": "kept", "version": 1})
    table.put({"pk": ORG, "sk": "NSNAME#taken", "namespace_id": "ns_other"})

    with pytest.raises(ConditionFailed):
        table.transact_write(
            [
                Put({"pk": ORG, "sk": "NS#ns_1", "name": "renamed", "version": 2}, if_version=1),
                Delete(ORG, "NS#ns_1_marker"),
                Put({"pk": ORG, "sk": "NS#ns_2", "name": "new"}),
                Put({"pk": ORG, "sk": "NSNAME#taken", "namespace_id": "ns_2"}, if_absent=True),
            ]
        )

    assert table.get(ORG, "NS#ns_1") == {"pk": ORG, "sk": "NS#ns_1", "name": "kept", "version": 1}
    assert table.get(ORG, "NS#ns_2") is None
    assert table.get(ORG, "NSNAME#taken") == {"pk": ORG, "sk": "NSNAME#taken", "namespace_id": "ns_other"}


def test_transact_write_keeps_deletes_when_a_condition_fails(table: Table) -> None:
    _put_sks(table, ORG, ["NS#ns_1", "NSNAME#docs"])

    with pytest.raises(ConditionFailed):
        table.transact_write(
            [Delete(ORG, "NS#ns_1"), Delete(ORG, "NSNAME#docs"), Delete(ORG, "NS#absent", if_exists=True)]
        )

    assert sks(table.query(ORG)) == ["NS#ns_1", "NSNAME#docs"]


def test_transact_write_fails_on_a_version_mismatch(table: Table) -> None:
    table.put({"pk": ORG, "sk": "NS#ns_1", "version": 5})

    with pytest.raises(ConditionFailed):
        table.transact_write([Put({"pk": ORG, "sk": "NS#ns_2"}), Delete(ORG, "NS#ns_1", if_version=4)])

    assert sks(table.query(ORG)) == ["NS#ns_1"]


def test_transact_write_refuses_a_key_twice_or_too_many_operations(table: Table) -> None:
    with pytest.raises(ValueError):
        table.transact_write([Put({"pk": ORG, "sk": "NS#ns_1"}), Delete(ORG, "NS#ns_1")])
    with pytest.raises(ValueError):
        table.transact_write([Put({"pk": ORG, "sk": f"NS#{index:03d}"}) for index in range(101)])

    assert table.query(ORG) == []


def test_transact_write_of_nothing_is_a_no_op(table: Table) -> None:
    table.transact_write([])

    assert table.query(ORG) == []


def test_transact_write_of_one_hundred_operations(table: Table) -> None:
    table.transact_write([Put({"pk": ORG, "sk": f"NS#{index:03d}", "index": index}) for index in range(100)])

    assert [item["index"] for item in table.query(ORG, "NS#")] == list(range(100))


# -- concurrency -----------------------------------------------------------------------------------------------------
# These run on SQLite only: moto applies a condition check and its write without a lock, so under threads it can let
# two conditional writers both succeed, which real DynamoDB never does. The sequential race above covers DynamoDB.


def test_concurrent_version_increments_never_lose_an_update(tmp_path: Path) -> None:
    table = SqliteTable(tmp_path / "table.db")
    table.put({"pk": ORG, "sk": "COUNTER", "count": 0, "version": 0})
    threads_count, increments = 8, 25
    conflicts = [0] * threads_count
    errors: list[BaseException] = []
    start = threading.Barrier(threads_count)

    def increment(worker: int) -> None:
        try:
            start.wait()
            for _ in range(increments):
                while True:
                    current = table.get(ORG, "COUNTER")
                    updated = {**current, "count": current["count"] + 1, "version": current["version"] + 1}
                    try:
                        table.put(updated, if_version=current["version"])
                        break
                    except ConditionFailed:
                        conflicts[worker] += 1
        except BaseException as error:  # surfaced below; a thread's exception is otherwise lost
            errors.append(error)

    workers = [threading.Thread(target=increment, args=(index,)) for index in range(threads_count)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    table.close()

    assert errors == []
    final = SqliteTable(tmp_path / "table.db").get(ORG, "COUNTER")
    assert final == {"pk": ORG, "sk": "COUNTER", "count": 200, "version": 200}


def test_concurrent_if_absent_puts_let_exactly_one_writer_win(tmp_path: Path) -> None:
    table = SqliteTable(tmp_path / "table.db")
    writers = 8
    rounds = 20
    errors: list[BaseException] = []
    for round_index in range(rounds):
        winners: list[int] = []
        start = threading.Barrier(writers)

        def reserve(writer: int, sk: str = f"NSNAME#name_{round_index}") -> None:
            start.wait()
            try:
                table.transact_write(
                    [
                        Put({"pk": ORG, "sk": sk, "owner": writer}, if_absent=True),
                        Put({"pk": ORG, "sk": f"NS#{round_index}_{writer}", "owner": writer}),
                    ]
                )
                winners.append(writer)
            except ConditionFailed:
                pass
            except BaseException as error:  # surfaced below; a thread's exception is otherwise lost
                errors.append(error)

        threads = [threading.Thread(target=reserve, args=(index,)) for index in range(writers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert errors == []
        assert len(winners) == 1
        assert table.get(ORG, f"NSNAME#name_{round_index}")["owner"] == winners[0]
        assert sks(table.query(ORG, f"NS#{round_index}_")) == [f"NS#{round_index}_{winners[0]}"]
    table.close()


# -- SQLite only -----------------------------------------------------------------------------------------------------


def test_sqlite_items_survive_reopening_the_file(tmp_path: Path) -> None:
    first = SqliteTable(tmp_path / "table.db")
    first.put({"pk": ORG, "sk": "NS#ns_1", "tenth": 0.1, "version": 1})
    first.close()

    reopened = SqliteTable(tmp_path / "table.db")

    assert_identical(reopened.get(ORG, "NS#ns_1"), {"pk": ORG, "sk": "NS#ns_1", "tenth": 0.1, "version": 1})
    reopened.close()


def test_sqlite_reads_from_many_threads_see_the_same_item(tmp_path: Path) -> None:
    table = SqliteTable(tmp_path / "table.db")
    table.put({"pk": ORG, "sk": "NS#ns_1", "name": "docs"})
    results: list[Any] = []

    def read() -> None:
        results.extend(table.get(ORG, "NS#ns_1") for _ in range(50))

    threads = [threading.Thread(target=read) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    table.close()

    assert results == [{"pk": ORG, "sk": "NS#ns_1", "name": "docs"}] * 400


def test_sqlite_locked_database_is_reported_as_unavailable(tmp_path: Path) -> None:
    table = SqliteTable(tmp_path / "table.db", busy_timeout_s=0.05)
    table.put({"pk": ORG, "sk": "NS#ns_1", "version": 1})
    other_writer = sqlite3.connect(tmp_path / "table.db", isolation_level=None)
    other_writer.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(DependencyUnavailable):
            table.put({"pk": ORG, "sk": "NS#ns_1", "version": 2}, if_version=1)
        with pytest.raises(DependencyUnavailable):
            table.transact_write([Delete(ORG, "NS#ns_1")])
    finally:
        other_writer.execute("ROLLBACK")
        other_writer.close()

    assert table.get(ORG, "NS#ns_1") == {"pk": ORG, "sk": "NS#ns_1", "version": 1}
    table.close()


def test_sqlite_use_after_close_is_reported_as_unavailable(tmp_path: Path) -> None:
    table = SqliteTable(tmp_path / "table.db")
    table.put({"pk": ORG, "sk": "NS#ns_1"})
    table.close()

    with pytest.raises(DependencyUnavailable):
        table.get(ORG, "NS#ns_1")


def test_sqlite_file_that_is_not_a_database_is_reported_as_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "table.db"
    path.write_bytes(b"this is not a SQLite database, just bytes that happen to be here" * 10)

    with pytest.raises(DependencyUnavailable):
        SqliteTable(path)


# -- secondary index ---------------------------------------------------------------------------------------------------


def _put_indexed(table: Table, sk: str, gsi1pk: Any, gsi1sk: Any) -> None:
    table.put({"pk": ORG, "sk": sk, "gsi1pk": gsi1pk, "gsi1sk": gsi1sk, "n": sk})


def test_query_index_returns_the_index_partition_in_index_sort_key_order(table: Table) -> None:
    _put_indexed(table, "NS#c", "NSEXP", "2030-01-01T00:00:00.000Z#c")
    _put_indexed(table, "NS#a", "NSEXP", "2020-01-01T00:00:00.000Z#a")
    _put_indexed(table, "NS#b", "NSEXP", "2025-01-01T00:00:00.000Z#b")
    _put_indexed(table, "NS#other", "OTHER", "2000-01-01T00:00:00.000Z#o")

    items = table.query_index("gsi1", "NSEXP")

    assert sks(items) == ["NS#a", "NS#b", "NS#c"]
    expected = {"pk": ORG, "sk": "NS#a", "gsi1pk": "NSEXP", "gsi1sk": "2020-01-01T00:00:00.000Z#a", "n": "NS#a"}
    assert_identical(items[0], expected)


def test_query_index_below_a_sort_key_and_with_a_limit(table: Table) -> None:
    for year in ("2020", "2021", "2022", "2023"):
        _put_indexed(table, f"NS#{year}", "NSEXP", f"{year}-06-01T00:00:00.000Z#{year}")

    assert sks(table.query_index("gsi1", "NSEXP", sk_below="2022-06-01T00:00:00.000Z")) == ["NS#2020", "NS#2021"]
    assert sks(table.query_index("gsi1", "NSEXP", sk_below="2022-06-01T00:00:00.000Z#2022~")) == [
        "NS#2020",
        "NS#2021",
        "NS#2022",
    ]
    assert sks(table.query_index("gsi1", "NSEXP", limit=3)) == ["NS#2020", "NS#2021", "NS#2022"]
    assert table.query_index("gsi1", "NSEXP", limit=0) == []


def test_query_index_leaves_out_items_without_string_index_keys(table: Table) -> None:
    _put_indexed(table, "NS#kept", "NSEXP", "2020")
    _put_indexed(table, "NS#empty", "NSEXP", "")
    _put_indexed(table, "NS#number", "NSEXP", 5)
    table.put({"pk": ORG, "sk": "NS#no-sort-key", "gsi1pk": "NSEXP"})
    table.put({"pk": ORG, "sk": "NS#plain"})

    assert sks(table.query_index("gsi1", "NSEXP")) == ["NS#kept"]


def test_query_index_follows_deletes_and_updates(table: Table) -> None:
    _put_indexed(table, "NS#a", "NSEXP", "2020")
    _put_indexed(table, "NS#b", "NSEXP", "2021")
    table.delete(ORG, "NS#a")
    table.put({"pk": ORG, "sk": "NS#b"})  # the expiry was removed: the item leaves the index

    assert table.query_index("gsi1", "NSEXP") == []


@pytest.mark.parametrize("index", ["", "gsi", "gsi1; DROP TABLE items", "GSI1", "lsi1"])
def test_query_index_refuses_an_index_name_outside_the_convention(table: Table, index: str) -> None:
    with pytest.raises(ValueError):
        table.query_index(index, "NSEXP")


# -- DynamoDB only ---------------------------------------------------------------------------------------------------


def test_dynamodb_builds_its_own_client_when_given_none(dynamodb: Any, table_name: str) -> None:
    table = DynamoDbTable(table_name)
    table.put({"pk": ORG, "sk": "NS#ns_1", "version": 1})

    assert table.get(ORG, "NS#ns_1") == {"pk": ORG, "sk": "NS#ns_1", "version": 1}
    assert "Item" in dynamodb.get_item(TableName=table_name, Key={"pk": {"S": ORG}, "sk": {"S": "NS#ns_1"}})


def test_dynamodb_stores_key_ttl_version_and_index_keys_as_native_attributes(dynamodb: Any, table_name: str) -> None:
    table = DynamoDbTable(table_name, client=dynamodb)
    table.put(
        {
            "pk": ORG,
            "sk": "NS#ns_1",
            "version": 7,
            "expires_at": 1_900_000_000,
            "gsi1pk": "NSNAME#docs",
            "gsi2pk": "",
            "gsi3pk": 5,
            "name": "docs",
            "score": 0.1,
        }
    )

    stored = dynamodb.get_item(TableName=table_name, Key={"pk": {"S": ORG}, "sk": {"S": "NS#ns_1"}})["Item"]

    assert stored["version"] == {"N": "7"}
    assert stored["expires_at"] == {"N": "1900000000"}
    assert stored["gsi1pk"] == {"S": "NSNAME#docs"}
    assert set(stored) == {"pk", "sk", "version", "expires_at", "gsi1pk", "doc"}
    assert json.loads(stored["doc"]["S"]) == {"gsi2pk": "", "gsi3pk": 5, "name": "docs", "score": 0.1}


def test_dynamodb_missing_table_is_reported_as_unavailable(dynamodb: Any) -> None:
    table = DynamoDbTable("no-such-table", client=dynamodb)

    with pytest.raises(DependencyUnavailable):
        table.get(ORG, "NS#ns_1")
    with pytest.raises(DependencyUnavailable):
        table.put({"pk": ORG, "sk": "NS#ns_1"}, if_absent=True)
    with pytest.raises(DependencyUnavailable):
        table.query(ORG)
    with pytest.raises(DependencyUnavailable):
        table.transact_write([Put({"pk": ORG, "sk": "NS#ns_1"})])


def test_dynamodb_unreachable_endpoint_is_reported_as_unavailable(dynamodb: Any) -> None:
    client = boto3.client(
        "dynamodb",
        region_name=REGION,
        endpoint_url="http://127.0.0.1:9",
        config=Config(retries={"mode": "standard", "max_attempts": 1}, connect_timeout=0.5),
    )
    table = DynamoDbTable("openpeek-test-table", client=client)

    with pytest.raises(DependencyUnavailable):
        table.get(ORG, "NS#ns_1")
    with pytest.raises(DependencyUnavailable):
        table.delete(ORG, "NS#ns_1", if_exists=True)
