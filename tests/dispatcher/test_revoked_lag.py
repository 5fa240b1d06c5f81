"""A partition taken by a rebalance leaves this dispatcher's lag gauge: the next owner reports
it, and a stale value kept here would be summed with the owner's across replicas, holding the
lag alert (`sum by (job, topic)`) up for ever."""

from __future__ import annotations

from typing import cast

from dispatcher import metrics
from dispatcher.config_table import ConfigTable
from dispatcher.delivery import Deliverer
from dispatcher.engine import DeliveryEngine
from dispatcher.kafka_inputs import KafkaInputs
from dispatcher.kafka_publisher import KafkaPublisher
from dispatcher.offsets import Partition
from dispatcher.work import EngineLimits


def _lag() -> set[tuple[str, str]]:
    return {
        (s.labels["topic"], s.labels["partition"])
        for family in metrics.CONSUMER_LAG.collect()
        for s in family.samples
    }


def test_revoked_partitions_leave_the_lag_gauge_and_kept_ones_stay() -> None:
    # Nothing of the inputs or the publisher is used when partitions are lost (no commit).
    engine = DeliveryEngine(
        cast(KafkaInputs, None),
        cast(KafkaPublisher, None),
        ConfigTable(),
        cast(Deliverer, None),
        EngineLimits(),
    )
    metrics.CONSUMER_LAG.labels("revoked-lag-test", "0").set(5_000)
    metrics.CONSUMER_LAG.labels("revoked-lag-test", "1").set(7)
    engine.revoked({Partition("revoked-lag-test", 0), Partition("revoked-lag-test", 2)}, True)
    mine = {labels for labels in _lag() if labels[0] == "revoked-lag-test"}
    assert mine == {("revoked-lag-test", "1")}  # 2 never had a value: no error either
    metrics.CONSUMER_LAG.remove("revoked-lag-test", "1")
