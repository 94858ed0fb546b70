"""The keys of the message catalogue: every text the organisers read, one field each.

A language is one instance of :class:`Messages` (``en.py``, ``es.py``). The
dataclasses have no defaults, so a key missing from a language is a type error
for mypy and a ``TypeError`` when that language is imported; the unit tests
also check that both languages use the same ``{placeholders}`` in every text.
Texts are ``str.format`` templates with named placeholders and Markdown where
Streamlit renders it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class AppTexts:
    """The frame of the app: navigation, the language picker, failures any page may show."""

    language: str
    bad_configuration: str
    page_results: str
    page_logs: str
    page_dead_letters: str
    page_audit: str
    server_unreachable: str
    server_slow: str
    no_votes_yet: str
    choose: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AccessTexts:
    """Who is looking: the sign-in page, the signed-in account, the open modes."""

    open_local: str
    open_cluster: str
    sign_in_title: str
    sign_in_prompt: str
    sign_in_button: str
    sign_out_button: str
    signed_in_as: str
    role_organiser: str
    role_viewer: str
    not_configured: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ResultsTexts:
    """The live results page and the charts and tables it shares with others."""

    title: str
    caption: str
    open_contest: str
    total_votes: str
    votes_per_second: str
    votes_via: str
    dead_letters: str
    standings_tables: str
    votes_by_band: str
    by_channel: str
    votes_per_second_minute: str
    votes_by_album: str
    average_rank_by_album: str
    bands: str
    albums: str
    band: str
    album: str
    channel: str
    votes: str
    average_rank: str
    time: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LogsTexts:
    """The vote log: filters, the pager, the table's columns, the download."""

    title: str
    band: str
    album: str
    channel: str
    since: str
    until: str
    search: str
    find_vote: str
    find_vote_help: str
    slow_log: str
    rows_per_page: str
    matching: str
    download: str
    download_help: str
    cannot_filter: str
    received_at: str
    name: str
    year: str
    rank: str
    vote_id: str
    processed_at: str


@dataclass(frozen=True, slots=True, kw_only=True)
class FilterTexts:
    """Why a filter value was refused (``queries.FilterError``: a field and a rule)."""

    field_band: str
    field_album: str
    field_channel: str
    field_since: str
    field_until: str
    field_text: str
    field_vote_id: str
    field_rule: str
    field_page: str
    field_page_size: str
    not_a_list: str
    too_many: str
    empty_choice: str
    choice_too_long: str
    unknown_channel: str
    not_a_time: str
    range_reversed: str
    not_text: str
    text_too_long: str
    not_a_vote_id: str
    not_a_rule: str
    not_whole: str
    page_from_one: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetterTexts:
    """The dead letters: what the consumer could not count, and why."""

    title: str
    caption: str
    by_reason: str
    reason: str
    count: str
    none_yet: str
    failed_at: str
    field: str
    rule: str
    message: str
    event_id: str
    data: str
    not_utf8: str
    status: str
    status_open: str
    status_replayed: str
    show_put_right: str
    listed: str
    select: str
    select_all: str
    select_help: str
    preview_button: str
    replay_button: str
    replay_viewer: str
    replay_needs_sign_in: str
    preview_title: str
    replay_title: str
    stopped: str
    letter: str
    outcome: str
    reason_now: str
    reason_before: str
    vote_id: str
    by: str
    started: str
    history: str
    no_replays: str
    outcome_counted: str
    outcome_already_counted: str
    outcome_still_dead: str
    outcome_skipped: str
    outcome_not_found: str
    outcome_unavailable: str
    would_count: str
    would_find_counted: str
    would_stay_dead: str
    would_skip: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditTexts:
    """The audit page: Redis's counters beside MongoDB's recount."""

    title: str
    caption: str
    run: str
    agree: str
    differ: str
    votes_in_redis: str
    votes_in_mongodb: str
    differences: str
    albums: str
    totals: str
    band: str
    album: str
    votes_redis: str
    votes_mongodb: str
    rank_sum_redis: str
    rank_sum_mongodb: str
    agrees: str
    counter: str
    name: str
    redis: str
    mongodb: str
    press_run: str
    recounting: str
    counter_band: str
    counter_channel: str
    counter_total: str
    counter_dead_letters: str
    all_votes: str
    dead_open: str
    dead_rule: str
    dead_replayed: str
    dead_replayed_logged: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ContestDashboardTexts:
    """Grafana's contest dashboard: the live tally in Redis."""

    title: str
    description: str
    total_votes: str
    total_votes_help: str
    dead_letters: str
    dead_letters_help: str
    by_channel: str
    by_channel_help: str
    dead_letters_by_reason: str
    dead_letters_by_reason_help: str
    by_band: str
    by_band_help: str
    per_second: str
    per_second_help: str
    by_album: str
    by_album_help: str
    average_rank: str
    average_rank_help: str
    band: str
    album: str
    votes: str
    reason: str
    dead_letters_column: str
    rank_sum: str
    average_rank_column: str
    none: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SystemDashboardTexts:
    """Grafana's system dashboard: the services' Prometheus metrics."""

    title: str
    description: str
    accepted: str
    rejected: str
    refused_or_unknown: str
    lag: str
    outcomes: str
    rejected_by_rule: str
    consumer_throughput: str
    consumer_failures: str
    lag_by_partition: str
    latency: str
    retries: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelTexts:
    """Each channel's name (``certamen.contract.CHANNELS``: the field is the stored value)."""

    grpc: str
    wasm: str
    legacy: str

    def of(self, channel: str) -> str:
        """The name of ``channel``; a value that is not a channel is shown as stored."""
        label = getattr(self, channel, None) if channel in self.__slots__ else None
        return label if isinstance(label, str) else channel


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleTexts:
    """What each rule a vote can break means (the ``rule`` of ``{field, rule, message}``).

    The rules of ``docs/vote-contract.md`` and the consumer's own (``unknown_type``,
    ``not_in_catalog``, ``conflict``); a unit test checks the contract's tables
    against these fields. A rule without a text is shown as its code.
    """

    too_large: str
    utf8: str
    json: str
    type: str
    duplicate: str
    unknown_field: str
    required: str
    invalid_unicode: str
    control_character: str
    empty: str
    too_long: str
    format: str
    range: str
    precision: str
    conflict: str
    not_in_catalog: str
    unknown_type: str

    def of(self, rule: str) -> str:
        """``rule`` in words, with its code: ``not in the catalog (not_in_catalog)``."""
        label = getattr(self, rule, None) if rule in self.__slots__ else None
        return f"{label} ({rule})" if isinstance(label, str) else rule


@dataclass(frozen=True, slots=True, kw_only=True)
class Messages:
    """One language's catalogue."""

    app: AppTexts
    access: AccessTexts
    channels: ChannelTexts
    rules: RuleTexts
    results: ResultsTexts
    logs: LogsTexts
    filters: FilterTexts
    dead_letters: DeadLetterTexts
    audit: AuditTexts
    contest_dashboard: ContestDashboardTexts
    system_dashboard: SystemDashboardTexts
