"""The sink's ``/metrics``: its counters, read at scrape time.

A custom collector rather than counters bumped per request: the sink is also the receiver the
benchmarks measure the raw HTTP ceiling against, so its request path stays as it is.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from voicelens.sink.app import SinkState

__all__ = ["sink_registry"]


class _SinkCollector(Collector):
    def __init__(self, state: SinkState) -> None:
        self._state = state

    def collect(self) -> Iterator[Metric]:
        state = self._state
        received = CounterMetricFamily(
            "voicelens_sink_requests", "Webhook POSTs answered, by HTTP status", labels=["status"]
        )
        for status, n in sorted(state.by_status.items()):
            received.add_metric([str(status)], n)
        yield received
        yield CounterMetricFamily(
            "voicelens_sink_accepted", "POSTs accepted (2xx)", value=state.accepted
        )
        yield CounterMetricFamily(
            "voicelens_sink_signature_failures",
            "POSTs whose Standard Webhooks signature did not verify",
            value=state.signature_failures,
        )
        yield CounterMetricFamily(
            "voicelens_sink_duplicates",
            "Accepted POSTs whose webhook-id had been accepted before",
            value=sum(n - 1 for n in state.accepted_ids.values() if n > 1),
        )
        yield GaugeMetricFamily(
            "voicelens_sink_unique_call_ids",
            "Distinct call ids received",
            value=len(state.call_ids),
        )


def sink_registry(state: SinkState) -> CollectorRegistry:
    """A registry holding only the sink's own metrics."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(_SinkCollector(state))
    return registry
