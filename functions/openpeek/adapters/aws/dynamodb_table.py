"""Table on DynamoDB: the deployed runtime's single table.

Layout of a stored item: the key `pk`/`sk` (S); `version` and `expires_at` (the TTL attribute) as native numbers, so
conditions and TTL can read them; any non-empty string attribute whose name starts with `gsi` as a native string, so
secondary indexes can key on it; and everything else as one JSON string `doc`. Keeping the rest as JSON returns floats
and nesting exactly as they were put, which DynamoDB's own number type (Decimal) and empty-set rules would not.
"""

from __future__ import annotations

import json
import re
from typing import Any, Sequence

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from openpeek.adapters.aws.clients import LazyClient
from openpeek.domain.failures import ConditionFailed, DependencyUnavailable
from openpeek.domain.records import Delete, Item, Put

# Standard mode retries throttling and transient 5xx with backoff; legacy mode retries less and without a quota.
_CLIENT_CONFIG = Config(retries={"mode": "standard"})
_MAX_TRANSACTION_OPERATIONS = 100
_NUMBER_ATTRIBUTES = ("version", "expires_at")
_INDEX_KEY_PREFIX = "gsi"
_INDEX_NAME = re.compile(r"^gsi[0-9]{1,2}$")  # index gsiN keys on the string attributes gsiNpk / gsiNsk
_DOC = "doc"


def _check_key(pk: Any, sk: Any) -> None:
    if not isinstance(pk, str) or not pk or not isinstance(sk, str) or not sk:
        raise ValueError(f"item key must be two non-empty strings, got pk={pk!r} sk={sk!r}")


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def _encode(item: Item) -> dict[str, Any]:
    pk, sk = item.get("pk"), item.get("sk")
    _check_key(pk, sk)
    stored = _key(pk, sk)
    rest: dict[str, Any] = {}
    for name, value in item.items():
        if name in ("pk", "sk"):
            continue
        if name in _NUMBER_ATTRIBUTES and value is not None:
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"item attribute {name!r} must be an int, got {value!r}")
            stored[name] = {"N": str(value)}
        elif name.startswith(_INDEX_KEY_PREFIX) and isinstance(value, str) and value:
            # Empty strings may not key an index; left in the doc they simply keep the item out of it (sparse index).
            stored[name] = {"S": value}
        else:
            rest[name] = value
    try:
        stored[_DOC] = {"S": json.dumps(rest, separators=(",", ":"), ensure_ascii=False, allow_nan=False)}
    except (TypeError, ValueError) as error:
        raise ValueError(f"item {pk!r}/{sk!r} is not JSON-compatible: {error}") from error
    return stored


def _decode(stored: dict[str, Any]) -> Item:
    item: Item = {}
    for name, value in stored.items():
        if name == _DOC:
            item.update(json.loads(value["S"]))
        elif "S" in value:
            item[name] = value["S"]
        elif "N" in value:
            item[name] = int(value["N"])
        else:
            raise DependencyUnavailable(f"DynamoDB item has attribute {name!r} of a type this adapter never writes")
    return item


def _condition(clauses: list[str], expected_version: int | None) -> dict[str, Any]:
    """The condition parameters of a write (none when it is unconditional)."""
    if expected_version is not None:
        clauses.append("#v = :v")
    if not clauses:
        return {}
    parameters: dict[str, Any] = {"ConditionExpression": " AND ".join(clauses)}
    if expected_version is not None:
        parameters["ExpressionAttributeNames"] = {"#v": "version"}
        parameters["ExpressionAttributeValues"] = {":v": {"N": str(expected_version)}}
    return parameters


def _error_code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


def _unavailable(action: str, error: Exception) -> DependencyUnavailable:
    return DependencyUnavailable(f"DynamoDB {action} failed: {error}")


class DynamoDbTable:
    """Table on one DynamoDB table keyed by `pk` (S) and `sk` (S).

    Reads are strongly consistent: the embedded runtime reads its own writes, and a read-modify-write on `version`
    would otherwise retry on stale reads. The client is made on first use, so building the table (at Lambda import
    time) costs no network or credentials.
    """

    def __init__(self, table_name: str, client: Any = None) -> None:
        if not table_name:
            raise ValueError("DynamoDbTable needs a table name")
        self._table_name = table_name
        self._client = LazyClient("dynamodb", config=_CLIENT_CONFIG, client=client,
                                  setup_failed=lambda error: _unavailable("client setup", error))

    @property
    def table_name(self) -> str:
        return self._table_name

    def get(self, pk: str, sk: str) -> Item | None:
        try:
            response = self._dynamodb().get_item(TableName=self._table_name, Key=_key(pk, sk), ConsistentRead=True)
        except (ClientError, BotoCoreError) as error:
            raise _unavailable(f"get {pk!r}/{sk!r}", error) from error
        stored = response.get("Item")
        return None if stored is None else _decode(stored)

    def put(self, item: Item, *, if_absent: bool = False, if_version: int | None = None) -> None:
        stored = _encode(item)
        condition = _condition(["attribute_not_exists(pk)"] if if_absent else [], if_version)
        try:
            self._dynamodb().put_item(TableName=self._table_name, Item=stored, **condition)
        except ClientError as error:
            if _error_code(error) == "ConditionalCheckFailedException":
                raise ConditionFailed(f"put {item['pk']!r}/{item['sk']!r}: condition does not hold") from None
            raise _unavailable(f"put {item['pk']!r}/{item['sk']!r}", error) from error
        except BotoCoreError as error:
            raise _unavailable(f"put {item['pk']!r}/{item['sk']!r}", error) from error

    def delete(self, pk: str, sk: str, *, if_exists: bool = False, if_version: int | None = None) -> None:
        _check_key(pk, sk)
        condition = _condition(["attribute_exists(pk)"] if if_exists else [], if_version)
        try:
            self._dynamodb().delete_item(TableName=self._table_name, Key=_key(pk, sk), **condition)
        except ClientError as error:
            if _error_code(error) == "ConditionalCheckFailedException":
                raise ConditionFailed(f"delete {pk!r}/{sk!r}: condition does not hold") from None
            raise _unavailable(f"delete {pk!r}/{sk!r}", error) from error
        except BotoCoreError as error:
            raise _unavailable(f"delete {pk!r}/{sk!r}", error) from error

    def query(
        self,
        pk: str,
        sk_prefix: str = "",
        *,
        limit: int | None = None,
        start_after: str | None = None,
        descending: bool = False,
    ) -> list[Item]:
        if limit is not None and limit < 0:
            raise ValueError(f"query limit must not be negative, got {limit}")
        if limit == 0:
            return []
        parameters: dict[str, Any] = {
            "TableName": self._table_name,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": pk}},
            "ScanIndexForward": not descending,
            "ConsistentRead": True,
        }
        if sk_prefix:
            parameters["KeyConditionExpression"] += " AND begins_with(sk, :prefix)"
            parameters["ExpressionAttributeValues"][":prefix"] = {"S": sk_prefix}
        if start_after is not None:
            # DynamoDB refuses a start key outside the key condition's range, so one there either leaves the whole
            # range to read or none of it, depending on which side of the range it lies and the direction.
            if start_after.startswith(sk_prefix):
                parameters["ExclusiveStartKey"] = _key(pk, start_after)
            elif (start_after > sk_prefix) != descending:
                return []
        return self._paged_query(parameters, limit, f"query {pk!r}/{sk_prefix!r}")

    def query_index(self, index: str, pk: str, *, sk_below: str | None = None, limit: int | None = None) -> list[Item]:
        if not isinstance(index, str) or not _INDEX_NAME.match(index):
            raise ValueError(f"index must be named like 'gsi1', got {index!r}")
        if limit is not None and limit < 0:
            raise ValueError(f"query limit must not be negative, got {limit}")
        if limit == 0:
            return []
        # No ConsistentRead: DynamoDB refuses it on a global secondary index (the port says so).
        parameters: dict[str, Any] = {
            "TableName": self._table_name,
            "IndexName": index,
            "KeyConditionExpression": "#ipk = :pk",
            "ExpressionAttributeNames": {"#ipk": f"{index}pk"},
            "ExpressionAttributeValues": {":pk": {"S": pk}},
        }
        if sk_below is not None:
            parameters["KeyConditionExpression"] += " AND #isk < :below"
            parameters["ExpressionAttributeNames"]["#isk"] = f"{index}sk"
            parameters["ExpressionAttributeValues"][":below"] = {"S": sk_below}
        return self._paged_query(parameters, limit, f"query index {index!r} {pk!r}")

    def _paged_query(self, parameters: dict[str, Any], limit: int | None, what: str) -> list[Item]:
        """Follow LastEvaluatedKey until the results end or `limit` items are read."""
        items: list[Item] = []
        try:
            while True:
                if limit is not None:
                    parameters["Limit"] = limit - len(items)
                response = self._dynamodb().query(**parameters)
                items.extend(_decode(stored) for stored in response.get("Items", ()))
                last_key = response.get("LastEvaluatedKey")
                if last_key is None or (limit is not None and len(items) >= limit):
                    return items
                parameters["ExclusiveStartKey"] = last_key
        except (ClientError, BotoCoreError) as error:
            raise _unavailable(what, error) from error

    def transact_write(self, operations: Sequence[Put | Delete]) -> None:
        if len(operations) > _MAX_TRANSACTION_OPERATIONS:
            raise ValueError(f"a transaction takes at most {_MAX_TRANSACTION_OPERATIONS} operations")
        keys = [(op.item.get("pk"), op.item.get("sk")) if isinstance(op, Put) else (op.pk, op.sk) for op in operations]
        if len(set(keys)) != len(keys):
            raise ValueError("a transaction may touch each key at most once")
        if not operations:
            return
        requests = [self._transact_item(operation) for operation in operations]
        try:
            self._dynamodb().transact_write_items(TransactItems=requests)
        except ClientError as error:
            if _error_code(error) == "TransactionCanceledException":
                reasons = [reason.get("Code") for reason in error.response.get("CancellationReasons", ())]
                if "ConditionalCheckFailed" in reasons:
                    raise ConditionFailed(f"transaction cancelled: a condition does not hold ({reasons})") from None
            raise _unavailable("transact_write", error) from error
        except BotoCoreError as error:
            raise _unavailable("transact_write", error) from error

    # ---------------------------------------------------------------------------------------------------------------

    def _transact_item(self, operation: Put | Delete) -> dict[str, Any]:
        if isinstance(operation, Put):
            condition = _condition(["attribute_not_exists(pk)"] if operation.if_absent else [], operation.if_version)
            return {"Put": {"TableName": self._table_name, "Item": _encode(operation.item), **condition}}
        _check_key(operation.pk, operation.sk)
        condition = _condition(["attribute_exists(pk)"] if operation.if_exists else [], operation.if_version)
        return {"Delete": {"TableName": self._table_name, "Key": _key(operation.pk, operation.sk), **condition}}

    def _dynamodb(self) -> Any:
        return self._client.get()
