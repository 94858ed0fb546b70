"""The contest dashboard: the live tally in Redis, as the organisers and the audience see it.

Every query reads a key from ``certamen.adapters.redis_keys`` (the names the
consumer writes). With a catalog the consumer creates every candidate's counter
at 0, and no panel filters zero rows out, so every bar is there from the start.
One dashboard per language, from the same panels: only the texts (the message
catalogue's ``contest_dashboard``) and the uid differ. Counts use Grafana's
``locale`` unit (the browser's thousands separator); times are the contest's zone.
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
from certamen.contract import CHANNELS
from certamen.results.i18n import Language, messages
from certamen.results.i18n.catalogue import ChannelTexts, ContestDashboardTexts
from certamen.settings import Settings
from grafana.datasources import REDIS, Redis
from grafana.transforms import average_rank, hash_as_rows, renamed

UIDS: dict[Language, str] = {"en": "certamen-contest", "es": "certamen-contest-es"}
REFRESH = "5s"  # Grafana's default minimum; the streaming panels update every second
STREAM_MS = 1000
COUNT = "locale"  # Grafana's "Locale format" unit: whole numbers with the browser's separators
# The contest's time zone (settings.py's default, CERTAMEN_TIMEZONE): generated into the JSON.
TIMEZONE = Settings().timezone


def dashboard(language: Language) -> Dashboard:
    """The contest dashboard in ``language``, panel by panel."""
    texts, channels = messages(language).contest_dashboard, messages(language).channels
    return (
        Dashboard(texts.title)
        .uid(UIDS[language])
        .description(texts.description)
        .tags(["certamen", "contest", language])
        .refresh(REFRESH)
        .time("now-15m", "now")
        .timezone(TIMEZONE)
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .timepicker(TimePicker().refresh_intervals(["5s", "10s", "30s", "1m"]))
        .with_panel(_total_votes(texts))
        .with_panel(_dead_letters(texts))
        .with_panel(_votes_by_channel(texts, channels))
        .with_panel(_dead_letters_by_reason(texts))
        .with_panel(_votes_by_band(texts))
        .with_panel(_votes_per_second(texts))
        .with_panel(_votes_by_album(texts))
        .with_panel(_average_rank_by_album(texts))
    )


def _at(x: int, y: int, w: int, h: int) -> GridPos:
    return GridPos(x=x, y=y, w=w, h=h)


def _last_value() -> ReduceDataOptions:
    return ReduceDataOptions().calcs(["lastNotNull"]).values(False).fields("")


def _every_row() -> ReduceDataOptions:
    return ReduceDataOptions().calcs([]).values(True).fields("")


def _total_votes(texts: ContestDashboardTexts) -> stat.Panel:
    return (
        stat.Panel()
        .title(texts.total_votes)
        .description(texts.total_votes_help.format(key=keys.TOTAL))
        .datasource(REDIS)
        .with_target(Redis("get", keys.TOTAL).streaming("TimeSeries", interval_ms=STREAM_MS))
        .reduce_options(_last_value())
        .graph_mode(BigValueGraphMode.AREA)
        .unit(COUNT)
        .decimals(0)
        .min(0)
        .grid_pos(_at(0, 0, 6, 6))
    )


def _dead_letters(texts: ContestDashboardTexts) -> stat.Panel:
    return (
        stat.Panel()
        .title(texts.dead_letters)
        .description(texts.dead_letters_help.format(key=keys.DEAD_LETTERS))
        .datasource(REDIS)
        .with_target(Redis("get", keys.DEAD_LETTERS).streaming("TimeSeries", interval_ms=STREAM_MS))
        .reduce_options(_last_value())
        .graph_mode(BigValueGraphMode.NONE)
        .unit(COUNT)
        .decimals(0)
        .min(0)
        .no_value("0")
        .grid_pos(_at(6, 0, 6, 6))
    )


def _votes_by_channel(texts: ContestDashboardTexts, channels: ChannelTexts) -> piechart.Panel:
    return (
        piechart.Panel()
        .title(texts.by_channel)
        .description(texts.by_channel_help.format(key=keys.BY_CHANNEL))
        .datasource(REDIS)
        .with_target(
            Redis("hgetall", keys.BY_CHANNEL).streaming("DataFrame", interval_ms=STREAM_MS)
        )
        .transformations([renamed({channel: channels.of(channel) for channel in CHANNELS})])
        .reduce_options(_last_value())
        .pie_type(PieChartType.DONUT)
        .display_labels([PieChartLabels.NAME, PieChartLabels.VALUE])
        .unit(COUNT)
        .decimals(0)
        .grid_pos(_at(12, 0, 6, 6))
    )


def _dead_letters_by_reason(texts: ContestDashboardTexts) -> bargauge.Panel:
    return (
        bargauge.Panel()
        .title(texts.dead_letters_by_reason)
        .description(texts.dead_letters_by_reason_help.format(key=keys.DEAD_LETTERS_BY_REASON))
        .datasource(REDIS)
        .with_target(Redis("hgetall", keys.DEAD_LETTERS_BY_REASON))
        .transformations(hash_as_rows(texts.reason, texts.dead_letters_column))
        .reduce_options(_every_row())
        .orientation(VizOrientation.HORIZONTAL)
        .display_mode(BarGaugeDisplayMode.BASIC)
        .unit(COUNT)
        .decimals(0)
        .min(0)
        .no_value(texts.none)
        .grid_pos(_at(18, 0, 6, 6))
    )


def _votes_by_band(texts: ContestDashboardTexts) -> bargauge.Panel:
    return (
        bargauge.Panel()
        .title(texts.by_band)
        .description(texts.by_band_help.format(key=keys.BY_BAND))
        .datasource(REDIS)
        .with_target(Redis("hgetall", keys.BY_BAND).streaming("DataFrame", interval_ms=STREAM_MS))
        .transformations(hash_as_rows(texts.band, texts.votes))
        .reduce_options(_every_row())
        .orientation(VizOrientation.HORIZONTAL)
        .display_mode(BarGaugeDisplayMode.GRADIENT)
        .value_mode(BarGaugeValueMode.TEXT)
        .show_unfilled(True)
        .unit(COUNT)
        .decimals(0)
        .min(0)
        .grid_pos(_at(0, 6, 12, 10))
    )


def _votes_per_second(texts: ContestDashboardTexts) -> timeseries.Panel:
    return (
        timeseries.Panel()
        .title(texts.per_second)
        .description(texts.per_second_help.format(key=keys.RATE_STREAM))
        .datasource(REDIS)
        .with_target(Redis("xrange", keys.RATE_STREAM))
        .legend(VizLegendOptions().show_legend(False))
        .unit("short")
        .decimals(0)
        .min(0)
        .fill_opacity(25)
        .grid_pos(_at(12, 6, 12, 10))
    )


def _votes_by_album(texts: ContestDashboardTexts) -> barchart.Panel:
    return (
        barchart.Panel()
        .title(texts.by_album)
        .description(texts.by_album_help.format(key=keys.BY_ALBUM))
        .datasource(REDIS)
        .with_target(Redis("hgetall", keys.BY_ALBUM).streaming("DataFrame", interval_ms=STREAM_MS))
        .transformations(hash_as_rows(texts.album, texts.votes))
        .x_field(texts.album)
        .orientation(VizOrientation.HORIZONTAL)
        .show_value(VisibilityMode.ALWAYS)
        .legend(VizLegendOptions().show_legend(False))
        .unit(COUNT)
        .decimals(0)
        .min(0)
        .grid_pos(_at(0, 16, 12, 14))
    )


def _average_rank_by_album(texts: ContestDashboardTexts) -> barchart.Panel:
    return (
        barchart.Panel()
        .title(texts.average_rank)
        .description(texts.average_rank_help.format(rank_sum=keys.RANK_SUM, votes=keys.BY_ALBUM))
        .datasource(REDIS)
        .with_target(Redis("hgetall", keys.BY_ALBUM).ref_id("votes"))
        .with_target(Redis("hgetall", keys.RANK_SUM).ref_id("rank_sum"))
        .transformations(
            average_rank(texts.album, texts.votes, texts.rank_sum, texts.average_rank_column)
        )
        .x_field(texts.album)
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
