"""The system dashboard: how the producers, the source and the consumer are doing (Prometheus).

Metric names are the ones the services export: ``certamen.producers.intake`` (producers),
``certamen.source.status`` (the local KafkaSource) and ``certamen.consumer.metrics``.
On the cluster Knative's KafkaSource delivers and exports no lag; Strimzi's Kafka
Exporter does (``kafka_consumergroup_lag``), so the lag panels ask for both and
show whichever exists.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import stat, timeseries
from grafana_foundation_sdk.builders.common import ReduceDataOptions, VizLegendOptions
from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.builders.prometheus import Dataquery as PromQuery
from grafana_foundation_sdk.models.common import BigValueGraphMode, LegendDisplayMode
from grafana_foundation_sdk.models.dashboard import DashboardCursorSync, GridPos

from certamen.settings import Settings
from grafana.datasources import PROMETHEUS

UID = "certamen-system"
RATE = "[1m]"

PRODUCER_VOTES = "certamen_producer_votes_total"
PRODUCER_REJECTED = "certamen_producer_rejected_total"
PRODUCER_LATENCY = "certamen_producer_cast_seconds_bucket"
CONSUMER_EVENTS = "certamen_consumer_events_total"
CONSUMER_FAILURES = "certamen_consumer_failures_total"
SOURCE_LAG = "certamen_source_lag"
SOURCE_RETRIES = "certamen_source_retries_total"
# On the cluster Strimzi's Kafka Exporter gives the lag of the KafkaSource's group
# (knative/base/eventing/kafkasource.yaml: group certamen-consumer, topic votes).
# Those are the local stand-in's defaults, read here from settings.py;
# tests/deploy/test_knative_rules.py keeps the KafkaSource at those defaults and
# tests/deploy/test_lag.py checks this query against the rendered KafkaSource.
_DEFAULTS = Settings()
GROUP_LAG = (
    f'kafka_consumergroup_lag{{consumergroup="{_DEFAULTS.source.consumer_group}", '
    f'topic="{_DEFAULTS.votes_topic}"}}'
)


def dashboard() -> Dashboard:
    """The system dashboard, panel by panel."""
    return (
        Dashboard("Certamen — system")
        .uid(UID)
        .description("Producers, source and consumer, from their Prometheus metrics.")
        .tags(["certamen", "system"])
        .refresh("10s")
        .time("now-30m", "now")
        .timezone("browser")
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .with_panel(
            _stat("Accepted votes/s", f'sum(rate({PRODUCER_VOTES}{{outcome="accepted"}}{RATE}))', 0)
        )
        .with_panel(
            _stat(
                "Rejected ballots/s", f'sum(rate({PRODUCER_VOTES}{{outcome="rejected"}}{RATE}))', 6
            )
        )
        .with_panel(
            _stat(
                "Refused or unknown votes/s",
                f'sum(rate({PRODUCER_VOTES}{{outcome=~"refused|unknown"}}{RATE}))',
                12,
            )
        )
        .with_panel(_stat("Source lag (records)", f"sum({SOURCE_LAG}) or sum({GROUP_LAG})", 18))
        .with_panel(
            _series(
                "Producer outcomes by channel",
                f"sum by (channel, outcome) (rate({PRODUCER_VOTES}{RATE}))",
                "{{channel}} {{outcome}}",
                "reqps",
                _at(0, 5, 12, 9),
            )
        )
        .with_panel(
            _series(
                "Rejected ballots by rule",
                f"sum by (field, rule) (rate({PRODUCER_REJECTED}{RATE}))",
                "{{field}} {{rule}}",
                "reqps",
                _at(12, 5, 12, 9),
            )
        )
        .with_panel(
            _series(
                "Consumer throughput by outcome",
                f"sum by (outcome) (rate({CONSUMER_EVENTS}{RATE}))",
                "{{outcome}}",
                "reqps",
                _at(0, 14, 12, 9),
            )
        )
        .with_panel(
            _series(
                "Consumer failures (retried) by cause",
                f"sum by (cause) (rate({CONSUMER_FAILURES}{RATE}))",
                "{{cause}}",
                "reqps",
                _at(12, 14, 12, 9),
            )
        )
        .with_panel(
            _series(
                "Source lag by partition",
                f"sum by (topic, partition) ({SOURCE_LAG})",
                "{{topic}}/{{partition}}",
                "short",
                _at(0, 23, 12, 9),
                extra=(f"sum by (topic, partition) ({GROUP_LAG})", "{{topic}}/{{partition}}"),
            )
        )
        .with_panel(
            _series(
                "Producer latency to Kafka ack (p50, p99)",
                _quantile(0.99),
                "p99 {{channel}}",
                "s",
                _at(12, 23, 12, 9),
                extra=(
                    _quantile(0.5),
                    "p50 {{channel}}",
                ),
            )
        )
        .with_panel(
            _series(
                "Source retries by status",
                f"sum by (status) (rate({SOURCE_RETRIES}{RATE}))",
                "{{status}}",
                "reqps",
                _at(0, 32, 24, 8),
            )
        )
    )


def _quantile(q: float) -> str:
    return f"histogram_quantile({q}, sum by (le, channel) (rate({PRODUCER_LATENCY}{RATE})))"


def _at(x: int, y: int, w: int, h: int) -> GridPos:
    return GridPos(x=x, y=y, w=w, h=h)


def _stat(title: str, expr: str, x: int) -> stat.Panel:
    return (
        stat.Panel()
        .title(title)
        .datasource(PROMETHEUS)
        .with_target(PromQuery().expr(expr).ref_id("A").datasource(PROMETHEUS))
        .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False).fields(""))
        .graph_mode(BigValueGraphMode.AREA)
        .decimals(1)
        .no_value("0")
        .grid_pos(_at(x, 0, 6, 5))
    )


def _series(
    title: str,
    expr: str,
    legend: str,
    unit: str,
    grid: GridPos,
    extra: tuple[str, str] | None = None,
) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title(title)
        .datasource(PROMETHEUS)
        .with_target(
            PromQuery().expr(expr).legend_format(legend).ref_id("A").datasource(PROMETHEUS)
        )
        .legend(VizLegendOptions().show_legend(True).display_mode(LegendDisplayMode.LIST))
        .unit(unit)
        .min(0)
        .grid_pos(grid)
    )
    if extra is not None:
        panel = panel.with_target(
            PromQuery().expr(extra[0]).legend_format(extra[1]).ref_id("B").datasource(PROMETHEUS)
        )
    return panel
