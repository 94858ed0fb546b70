"""The two datasources the dashboards read, and the Redis plugin's query model.

The UIDs match ``grafana/provisioning/datasources/certamen.yaml``. The Redis
query is a typed stand-in for the plugin's ``RedisQuery`` (``redis-datasource``),
registered with the SDK so that a dashboard's JSON reads back into the same objects.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import runtime as cogruntime
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models.dashboard import DataSourceRef

REDIS_TYPE = "redis-datasource"
REDIS_UID = "certamen-redis"
PROMETHEUS_TYPE = "prometheus"
PROMETHEUS_UID = "certamen-prometheus"

REDIS = DataSourceRef(type_val=REDIS_TYPE, uid=REDIS_UID)
PROMETHEUS = DataSourceRef(type_val=PROMETHEUS_TYPE, uid=PROMETHEUS_UID)

RedisCommand = Literal["get", "hgetall", "xrange"]
StreamingDataType = Literal["TimeSeries", "DataFrame"]


class RedisQuery(cogvariants.Dataquery):
    """One Redis command of the plugin's command mode (no free-text CLI query)."""

    def __init__(
        self,
        ref_id: str = "A",
        command: str = "",
        key_name: str = "",
        streaming: bool = False,
        streaming_interval_ms: int | None = None,
        streaming_capacity: int | None = None,
        streaming_data_type: str | None = None,
    ) -> None:
        self.ref_id = ref_id
        self.command = command
        self.key_name = key_name
        self.streaming = streaming
        self.streaming_interval_ms = streaming_interval_ms
        self.streaming_capacity = streaming_capacity
        self.streaming_data_type = streaming_data_type

    def to_json(self) -> dict[str, object]:
        """The target as the plugin stores it in a panel."""
        payload: dict[str, object] = {
            "datasource": {"type": REDIS_TYPE, "uid": REDIS_UID},
            "refId": self.ref_id,
            "type": "command",
            "command": self.command,
            "keyName": self.key_name,
        }
        if self.streaming:
            payload["streaming"] = True
            payload["streamingInterval"] = self.streaming_interval_ms
            payload["streamingCapacity"] = self.streaming_capacity
            payload["streamingDataType"] = self.streaming_data_type
        return payload

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        """Read a target back (used by the SDK when it decodes a dashboard)."""
        return cls(
            ref_id=str(data.get("refId", "A")),
            command=str(data.get("command", "")),
            key_name=str(data.get("keyName", "")),
            streaming=bool(data.get("streaming", False)),
            streaming_interval_ms=data.get("streamingInterval"),
            streaming_capacity=data.get("streamingCapacity"),
            streaming_data_type=data.get("streamingDataType"),
        )


class Redis(cogbuilder.Builder[RedisQuery]):
    """Builder for :class:`RedisQuery`, in the SDK's style."""

    def __init__(self, command: RedisCommand, key_name: str) -> None:
        self._internal = RedisQuery(command=command, key_name=key_name)

    def build(self) -> RedisQuery:
        return self._internal

    def ref_id(self, ref_id: str) -> Self:
        self._internal.ref_id = ref_id
        return self

    def streaming(
        self, data_type: StreamingDataType, *, interval_ms: int = 1000, capacity: int = 600
    ) -> Self:
        """Let the plugin push fresh values every ``interval_ms`` (Grafana Live)."""
        self._internal.streaming = True
        self._internal.streaming_data_type = data_type
        self._internal.streaming_interval_ms = interval_ms
        self._internal.streaming_capacity = capacity
        return self


def register() -> None:
    """Teach the SDK's decoder the Redis plugin's targets (idempotent)."""
    cogruntime.Runtime().register_dataquery_variant(
        cogruntime.DataqueryConfig(identifier=REDIS_TYPE, from_json_hook=RedisQuery.from_json)
    )
