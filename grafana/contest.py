"""The contest dashboard: the live tally in Redis, as the organisers and the audience see it.

Every query reads a key from ``certamen.adapters.redis_keys`` (the names the
consumer writes). With a catalog the consumer creates every candidate's counter
at 0, and no panel filters zero rows out, so every bar is there from the start.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import barchart, bargauge, piechart, stat, timeseries
from grafana_foundation_sdk.builders.common import ReduceDataOptions, VizLegendOptions
from grafana_foundation_sdk.builders.dashboard import Dashboard, TimePicker
from grafana_foundation_sdk.models.common import (
    BarGaugeDisplayMode,
    BarGaugeValueMode,
    BigValueGraphMode,
    LegendDisplayMode,
    LegendPlacement,
    VisibilityMode,
    VizOrientation,
)
from grafana_foundation_sdk.models.dashboard import DashboardCursorSync, GridPos
from grafana_foundation_sdk.models.piechart import PieChartLabels, PieChartType

from certamen.adapters import redis_keys as keys
from grafana.datasources import REDIS, Redis
from grafana.transforms import average_rank, hash_as_rows

UID = "certamen-contest"
REFRESH = "5s"  # Grafana's default minimum; the streaming panels update every second
STREAM_MS = 1000


def dashboard() -> Dashboard:
    """The contest dashboard, panel by panel."""
    return (
        Dashboard("Certamen — contest")
        .uid(UID)
        .description("Live tally of the Certamen contest, read from Redis.")
        .tags(["certamen", "contest"])
        .refresh(REFRESH)
        .time("now-15m", "now")
        .timezone("browser")
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .timepicker(TimePicker().refresh_intervals(["5s", "10s", "30s", "1m"]))
        .with_panel(_total_votes())
        .with_panel(_dead_letters())
        .with_panel(_votes_by_channel())
        .with_panel(_dead_letters_by_reason())
        .with_panel(_votes_by_band())
        .with_panel(_votes_per_second())
        .with_panel(_votes_by_album())
        .with_panel(_average_rank_by_album())
    )


def _at(x: int, y: int, w: int, h: int) -> GridPos:
    return GridPos(x=x, y=y, w=w, h=h)


def _last_value() -> ReduceDataOptions:
    return ReduceDataOptions().calcs(["lastNotNull"]).values(False).fields("")


def _every_row() -> ReduceDataOptions:
    return ReduceDataOptions().calcs([]).values(True).fields("")


def _total_votes() -> stat.Panel:
    return (
        stat.Panel()
        .title("Total votes")
        .description(f"GET {keys.TOTAL}, streamed every second.")
        .datasource(REDIS)
        .with_target(Redis("get", keys.TOTAL).streaming("TimeSeries", interval_ms=STREAM_MS))
        .reduce_options(_last_value())
        .graph_mode(BigValueGraphMode.AREA)
        .decimals(0)
        .min(0)
        .grid_pos(_at(0, 0, 6, 6))
    )


def _dead_letters() -> stat.Panel:
    return (
        stat.Panel()
        .title("Dead letters")
        .description(f"GET {keys.DEAD_LETTERS}: events the consumer could not count.")
        .datasource(REDIS)
        .with_target(Redis("get", keys.DEAD_LETTERS).streaming("TimeSeries", interval_ms=STREAM_MS))
        .reduce_options(_last_value())
        .graph_mode(BigValueGraphMode.NONE)
        .decimals(0)
        .min(0)
        .no_value("0")
        .grid_pos(_at(6, 0, 6, 6))
    )


def _votes_by_channel() -> piechart.Panel:
    return (
        piechart.Panel()
        .title("Votes by channel")
        .description(f"HGETALL {keys.BY_CHANNEL}: gRPC and WebAssembly producers, legacy records.")
        .datasource(REDIS)
        .with_target(
            Redis("hgetall", keys.BY_CHANNEL).streaming("DataFrame", interval_ms=STREAM_MS)
        )
        .reduce_options(_last_value())
        .pie_type(PieChartType.DONUT)
        .display_labels([PieChartLabels.NAME, PieChartLabels.VALUE])
        .decimals(0)
        .grid_pos(_at(12, 0, 6, 6))
    )


def _dead_letters_by_reason() -> bargauge.Panel:
    return (
        bargauge.Panel()
        .title("Dead letters by reason")
        .description(f"HGETALL {keys.DEAD_LETTERS_BY_REASON}: the rule each one broke.")
        .datasource(REDIS)
        .with_target(Redis("hgetall", keys.DEAD_LETTERS_BY_REASON))
        .transformations(hash_as_rows("Reason", "Dead letters"))
        .reduce_options(_every_row())
        .orientation(VizOrientation.HORIZONTAL)
        .display_mode(BarGaugeDisplayMode.BASIC)
        .decimals(0)
        .min(0)
        .no_value("none")
        .grid_pos(_at(18, 0, 6, 6))
    )


def _votes_by_band() -> bargauge.Panel:
    return (
        bargauge.Panel()
        .title("Votes by band")
        .description(f"HGETALL {keys.BY_BAND}, one bar per band (zero bars included).")
        .datasource(REDIS)
        .with_target(Redis("hgetall", keys.BY_BAND).streaming("DataFrame", interval_ms=STREAM_MS))
        .transformations(hash_as_rows("Band", "Votes"))
        .reduce_options(_every_row())
        .orientation(VizOrientation.HORIZONTAL)
        .display_mode(BarGaugeDisplayMode.GRADIENT)
        .value_mode(BarGaugeValueMode.TEXT)
        .show_unfilled(True)
        .decimals(0)
        .min(0)
        .grid_pos(_at(0, 6, 12, 10))
    )


def _votes_per_second() -> timeseries.Panel:
    return (
        timeseries.Panel()
        .title("Votes per second")
        .description(
            f"XRANGE {keys.RATE_STREAM} over the dashboard's time range: one entry per second."
        )
        .datasource(REDIS)
        .with_target(Redis("xrange", keys.RATE_STREAM))
        .legend(VizLegendOptions().show_legend(False))
        .unit("short")
        .decimals(0)
        .min(0)
        .fill_opacity(25)
        .grid_pos(_at(12, 6, 12, 10))
    )


def _votes_by_album() -> barchart.Panel:
    return (
        barchart.Panel()
        .title("Votes by album")
        .description(f"HGETALL {keys.BY_ALBUM} (fields “band — album”).")
        .datasource(REDIS)
        .with_target(Redis("hgetall", keys.BY_ALBUM).streaming("DataFrame", interval_ms=STREAM_MS))
        .transformations(hash_as_rows("Album", "Votes"))
        .x_field("Album")
        .orientation(VizOrientation.HORIZONTAL)
        .show_value(VisibilityMode.ALWAYS)
        .legend(VizLegendOptions().show_legend(False))
        .decimals(0)
        .min(0)
        .grid_pos(_at(0, 16, 12, 14))
    )


def _average_rank_by_album() -> barchart.Panel:
    return (
        barchart.Panel()
        .title("Average rank by album")
        .description(
            f"HGETALL {keys.RANK_SUM} ÷ HGETALL {keys.BY_ALBUM}, per album "
            "(Grafana transformations: merge, reduce, add field from calculation)."
        )
        .datasource(REDIS)
        .with_target(Redis("hgetall", keys.BY_ALBUM).ref_id("votes"))
        .with_target(Redis("hgetall", keys.RANK_SUM).ref_id("rank_sum"))
        .transformations(average_rank("Album", "Votes", "Rank sum", "Average rank"))
        .x_field("Album")
        .orientation(VizOrientation.HORIZONTAL)
        .show_value(VisibilityMode.ALWAYS)
        .legend(
            VizLegendOptions()
            .show_legend(False)
            .display_mode(LegendDisplayMode.LIST)
            .placement(LegendPlacement.BOTTOM)
        )
        .decimals(2)
        .min(0)
        .max(100)
        .grid_pos(_at(12, 16, 12, 14))
    )
