"""English: the catalogue of every text of the app and the dashboards."""

from __future__ import annotations

from certamen.results.i18n.catalogue import (
    AccessTexts,
    AppTexts,
    AuditTexts,
    ChannelTexts,
    ContestDashboardTexts,
    DeadLetterTexts,
    FilterTexts,
    LogsTexts,
    Messages,
    ResultsTexts,
    RuleTexts,
    SystemDashboardTexts,
)

MESSAGES = Messages(
    app=AppTexts(
        language="Language",
        bad_configuration="**Certamen cannot start: bad configuration.** {error}",
        page_results="Results",
        page_logs="Logs",
        page_dead_letters="Dead letters",
        page_audit="Audit",
        server_unreachable=(
            "**{server} is not reachable** at `{address}`. This part of the page comes back "
            "by itself when the server does; the rest of the app keeps working."
        ),
        server_slow=(
            "**{server} is taking too long** at `{address}`: it did not answer this read in "
            "the time the page waits. This part of the page tries again when you refresh; the "
            "rest of the app keeps working."
        ),
        no_votes_yet="no votes yet",
        choose="Choose",
    ),
    access=AccessTexts(
        open_local=(
            "Open without sign-in: this app listens on 127.0.0.1 and is reached from this "
            "machine only."
        ),
        open_cluster=(
            "Open without sign-in: this app is cluster-local, reached from inside the cluster only."
        ),
        sign_in_title="Sign in",
        sign_in_prompt=(
            "This is the organisers' app of the Certamen contest. Sign in with your account "
            "to see it."
        ),
        sign_in_button="Sign in",
        sign_out_button="Sign out",
        signed_in_as="Signed in as **{account}**",
        role_organiser="Organiser: may replay dead letters.",
        role_viewer="May look; only organisers may replay dead letters.",
        not_configured=(
            "**Sign-in is not configured** and this app is reachable beyond this machine: "
            "nothing is shown. Configure `[auth]` in Streamlit's secrets or, if the app is "
            "reached from inside the cluster only, set `CERTAMEN_STREAMLIT_VISIBILITY` to "
            "`cluster-local`."
        ),
    ),
    channels=ChannelTexts(grpc="gRPC", wasm="WebAssembly", legacy="legacy producer"),
    rules=RuleTexts(
        too_large="too large",
        utf8="not UTF-8",
        json="not JSON",
        type="wrong type",
        duplicate="given twice",
        unknown_field="unknown field",
        required="missing",
        invalid_unicode="invalid Unicode",
        control_character="control character",
        empty="empty",
        too_long="too long",
        format="wrong format",
        range="out of range",
        precision="too many decimals",
        conflict="vote id reused",
        not_in_catalog="not in the catalog",
        unknown_type="not a vote",
    ),
    results=ResultsTexts(
        title="Results",
        caption="Live from Redis: numbers every {numbers} s, charts every {charts} s — {contest}",
        open_contest="open contest (no catalog)",
        total_votes="Total votes",
        votes_per_second="Votes per second (last 5 s)",
        votes_via="Votes via {channel}",
        dead_letters="Dead letters",
        standings_tables="Standings tables",
        votes_by_band="Votes by band",
        by_channel="By channel",
        votes_per_second_minute="Votes per second, last minute",
        votes_by_album="Votes by album",
        average_rank_by_album="Average rank by album",
        bands="Bands",
        albums="Albums",
        band="Band",
        album="Album",
        channel="Channel",
        votes="Votes",
        average_rank="Average rank",
        time="Time ({zone})",
    ),
    logs=LogsTexts(
        title="Logs",
        band="Band",
        album="Album",
        channel="Channel",
        since="From ({zone})",
        until="To ({zone})",
        search="Search band or album",
        find_vote="Find a vote by its id",
        slow_log=(
            "On the local stack's FerretDB every read of the vote log but a lookup by vote id "
            "reads the whole log: minutes at a million votes (docs/dashboards.md). Find a vote "
            "by its id instead, or see the live results."
        ),
        find_vote_help=(
            "The vote id on the voter's receipt. Found at once however long the log is; "
            "the other filters narrow what it finds."
        ),
        rows_per_page="Rows per page",
        matching="Matching votes: **{count}** — page {page} of {pages}",
        download="Download CSV of the matching votes",
        download_help="The stored values: times in UTC (RFC 3339), English column names.",
        cannot_filter="Cannot filter by {field}: {problem}",
        received_at="Received",
        name="Band",
        year="Year",
        rank="Rank",
        vote_id="Vote id",
        processed_at="Counted",
    ),
    filters=FilterTexts(
        field_band="band",
        field_album="album",
        field_channel="channel",
        field_since="start time",
        field_until="end time",
        field_text="search text",
        field_vote_id="vote id",
        field_rule="reason",
        field_page="page",
        field_page_size="page size",
        not_a_list="must be a list of names",
        too_many="at most {limit} choices",
        empty_choice="each choice must be non-empty text",
        choice_too_long="each choice at most {limit} characters",
        unknown_channel="must be one of {choices}",
        not_a_time="must be a date and time",
        range_reversed="the end of the time range is before its start",
        not_text="must be text",
        text_too_long="at most {limit} characters",
        not_a_vote_id="8 to 128 of the characters A-Z a-z 0-9 . _ : -",
        not_a_rule="a reason is a short lower-case word",
        not_whole="must be a whole number",
        page_from_one="must be a whole number from 1",
    ),
    dead_letters=DeadLetterTexts(
        title="Dead letters",
        caption=(
            "Events the consumer could not count, with the field and rule that rejected them."
        ),
        by_reason="Dead letters by reason",
        reason="Reason",
        count="Dead letters",
        none_yet="No dead letters: every event was counted.",
        failed_at="Failed",
        field="Field",
        rule="Rule",
        message="Message",
        event_id="Event id",
        data="Data",
        not_utf8="(not UTF-8, {size} bytes, base64) {data}",
        status="Status",
        status_open="open",
        status_replayed="put right",
        show_put_right="Also show letters put right",
        listed="Dead letters listed: **{count}**",
        select="Letters to preview or replay",
        select_all="All listed",
        select_help=(
            "Select letters in the table, preview what a replay would do (nothing is written), "
            "then replay them once their cause is fixed (a catalog corrected, an album added)."
        ),
        preview_button="Preview",
        replay_button="Replay",
        replay_viewer="Only organisers may replay dead letters; you may preview.",
        replay_needs_sign_in=(
            "Replaying needs an organiser signed in (sign-in is not configured here); "
            "you may preview, or use `certamen dead-letters replay`."
        ),
        preview_title="Preview for {by} ({when}): what a replay would do; nothing was written",
        replay_title="Replayed by {by} ({when})",
        stopped="The replay stopped early: {why}. Letters not reached: {count}.",
        letter="Letter",
        outcome="Outcome",
        reason_now="Reason now",
        reason_before="Reason before",
        vote_id="Vote id",
        by="By",
        started="Started",
        history="Replays",
        no_replays="No replays yet.",
        outcome_counted="counted: put right",
        outcome_already_counted="was counted already: put right, nothing added",
        outcome_still_dead="still a dead letter",
        outcome_skipped="skipped: put right already, or being replayed",
        outcome_not_found="no such dead letter",
        outcome_unavailable="a store is away: nothing done, try again",
        would_count="would be counted",
        would_find_counted="was counted already: nothing would be added",
        would_stay_dead="would stay a dead letter",
        would_skip="would be skipped: put right already, or being replayed",
    ),
    audit=AuditTexts(
        title="Audit",
        caption=(
            "Recounts the vote log in MongoDB and sets every Redis counter beside it. "
            "Run it when votes are quiet: MongoDB is written first, so in-flight votes may show."
        ),
        run="Run the audit",
        agree="**Redis and MongoDB agree** on every counter (audit of {when}).",
        differ="**Counters that differ between Redis and MongoDB: {count}** (audit of {when}).",
        votes_in_redis="Votes in Redis",
        votes_in_mongodb="Votes in MongoDB",
        differences="Differences",
        albums="Albums",
        totals="Bands, channels, total, dead letters",
        band="Band",
        album="Album",
        votes_redis="Votes (Redis)",
        votes_mongodb="Votes (MongoDB)",
        rank_sum_redis="Rank sum (Redis)",
        rank_sum_mongodb="Rank sum (MongoDB)",
        agrees="Agree",
        counter="Counter",
        name="Name",
        redis="Redis",
        mongodb="MongoDB",
        press_run="Press **{run}** to compare the two stores now.",
        recounting="Recounting the vote log in MongoDB: {read} of {total} votes read.",
        counter_band="band",
        counter_channel="channel",
        counter_total="total",
        counter_dead_letters="dead letters",
        all_votes="all votes",
        dead_open="not put right",
        dead_rule="not put right, rule {rule}",
        dead_replayed="put right by a replay",
        dead_replayed_logged="put right: their votes in the log",
    ),
    contest_dashboard=ContestDashboardTexts(
        title="Certamen — contest",
        description="Live tally of the Certamen contest, read from Redis.",
        total_votes="Total votes",
        total_votes_help="GET {key}, streamed every second.",
        dead_letters="Dead letters",
        dead_letters_help="GET {key}: events the consumer could not count.",
        by_channel="Votes by channel",
        by_channel_help="HGETALL {key}: gRPC and WebAssembly producers, legacy records.",
        dead_letters_by_reason="Dead letters by reason",
        dead_letters_by_reason_help="HGETALL {key}: the rule each one broke.",
        by_band="Votes by band",
        by_band_help="HGETALL {key}, one bar per band (zero bars included).",
        per_second="Votes per second",
        per_second_help="XRANGE {key} over the dashboard's time range: one entry per second.",
        by_album="Votes by album",
        by_album_help="HGETALL {key} (fields “band — album”).",
        average_rank="Average rank by album",
        average_rank_help=(
            "HGETALL {rank_sum} ÷ HGETALL {votes}, per album "
            "(Grafana transformations: merge, reduce, add field from calculation)."
        ),
        band="Band",
        album="Album",
        votes="Votes",
        reason="Reason",
        dead_letters_column="Dead letters",
        rank_sum="Rank sum",
        average_rank_column="Average rank",
        none="none",
    ),
    system_dashboard=SystemDashboardTexts(
        title="Certamen — system",
        description="Producers, source and consumer, from their Prometheus metrics.",
        accepted="Accepted votes/s",
        rejected="Rejected ballots/s",
        refused_or_unknown="Refused or unknown votes/s",
        lag="Source lag (records)",
        outcomes="Producer outcomes by channel",
        rejected_by_rule="Rejected ballots by rule",
        consumer_throughput="Consumer throughput by outcome",
        consumer_failures="Consumer failures (retried) by cause",
        lag_by_partition="Source lag by partition",
        latency="Producer latency to Kafka ack (p50, p99)",
        retries="Source retries by status",
    ),
)
