"""Dead letters: what the consumer could not count, why, and putting them right.

Pick letters, preview what a replay would do (nothing is written), then
replay: the page calls ``certamen.dead_letters.DeadLetters.replay``, the one
replay ``certamen dead-letters replay`` uses too, and shows each letter's
outcome and the replays recorded so far. Anyone who may see the app may
preview; only a signed-in organiser may replay, and the replay is recorded in
the name of their account.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import streamlit as st

from certamen.adapters.dead_letter_store import dead_letter_counts
from certamen.dead_letters import (
    DeadLetter,
    Outcome,
    ReplayReport,
    Selection,
    SelectionError,
)
from streamlit_app import components, reader, resources, signin
from streamlit_app.paging import table_height
from streamlit_app.queries import FilterError, dead_letter_query

MAX_LISTED = 500
MAX_SHOWN_DATA = 500
HISTORY = 50
LETTER_COLUMNS = ("failed_at", "field", "rule", "message", "status", "event_id", "data")
OUTCOME_COLUMNS = ("letter", "outcome", "reason", "previous", "vote_id", "by")
HISTORY_COLUMNS = ("started_at", "by", "letter", "outcome", "reason", "vote_id")
CHOSEN_KEY, ALL_KEY, REPORT_KEY = "dead_chosen", "dead_all", "dead_report"
NO_ACCOUNT = "app without sign-in"  # whom a preview is for when nobody signed in

settings = resources.settings()
me = reader.current()
texts, formats, rule_named = me.texts.dead_letters, me.formats, me.texts.rules.of


def _said(reason: dict[str, str] | None) -> str:
    """A reason as one line: ``field / rule in words (rule): message``."""
    if not reason:
        return ""
    rule = rule_named(reason.get("rule", "?"))
    return f"{reason.get('field', '?')} / {rule}: {reason.get('message', '')}"


def _outcome(outcome: Outcome, *, dry_run: bool) -> str:
    """What happened to a letter (or, in a preview, would happen), in the reader's words."""
    done = {
        Outcome.COUNTED: texts.outcome_counted,
        Outcome.ALREADY_COUNTED: texts.outcome_already_counted,
        Outcome.STILL_DEAD: texts.outcome_still_dead,
        Outcome.SKIPPED: texts.outcome_skipped,
        Outcome.NOT_FOUND: texts.outcome_not_found,
        Outcome.UNAVAILABLE: texts.outcome_unavailable,
    }
    would = {
        **done,
        Outcome.COUNTED: texts.would_count,
        Outcome.ALREADY_COUNTED: texts.would_find_counted,
        Outcome.STILL_DEAD: texts.would_stay_dead,
        Outcome.SKIPPED: texts.would_skip,
    }
    return (would if dry_run else done)[outcome]


def _recorded(outcome: str | None) -> str:
    """A recorded replay's outcome (stored as ``Outcome``'s value), in the reader's words."""
    try:
        return _outcome(Outcome(outcome), dry_run=False)
    except ValueError:  # not finished (no outcome yet), or a value this app does not know
        return outcome or ""


def _why_not(visitor: signin.Visitor) -> str:
    return texts.replay_viewer if visitor.access == "sign-in" else texts.replay_needs_sign_in


def _run(chosen: tuple[str, ...], *, replay: bool) -> None:
    """Preview or replay the chosen letters (a button's callback: before the page is drawn)."""
    visitor = signin.visitor()  # asked again here: a disabled button is not a permission
    if replay and not visitor.may_replay:
        st.session_state[REPORT_KEY] = _why_not(visitor)
        return
    by = visitor.account.email if visitor.account and visitor.account.email else NO_ACCOUNT
    desk = resources.dead_letter_desk()
    try:
        report = desk.replay(Selection(ids=chosen), by=by, dry_run=not replay)
    except SelectionError as e:
        st.session_state[REPORT_KEY] = str(e)
        return
    except components.SERVER_ERRORS:  # nothing was decided: say so, as a page part would
        servers, address = "MongoDB, Redis", settings.mongodb_uri_redacted
        st.session_state[REPORT_KEY] = me.texts.app.server_unreachable.format(
            server=servers, address=address
        )
        return
    st.session_state[REPORT_KEY] = (report, datetime.now(UTC))
    if replay:  # the letters put right leave the list: so does their choice
        st.session_state[CHOSEN_KEY] = []
        st.session_state[ALL_KEY] = False


def _show_report(report: ReplayReport, when: datetime) -> None:
    title = texts.preview_title if report.dry_run else texts.replay_title
    st.subheader(title.format(by=report.by, when=formats.moment(when)))
    said = Counter(_outcome(o.outcome, dry_run=o.dry_run) for o in report.outcomes)
    st.markdown(" · ".join(f"{words}: **{formats.count(n)}**" for words, n in said.items()))
    rows = [
        {
            "letter": o.letter_id,
            "outcome": _outcome(o.outcome, dry_run=o.dry_run),
            "reason": _said(o.reason),
            "previous": _said(o.previous_reason),
            "vote_id": o.vote_id,
            "by": o.by,
        }
        for o in report.outcomes
    ]
    headers = (
        texts.letter,
        texts.outcome,
        texts.reason_now,
        texts.reason_before,
        texts.vote_id,
        texts.by,
    )
    _table(rows, OUTCOME_COLUMNS, headers, key="dead_outcomes")
    if report.stopped is not None:
        count = formats.count(report.not_attempted)
        st.warning(texts.stopped.format(why=report.stopped, count=count))


def _table(
    rows: list[dict[str, Any]], columns: tuple[str, ...], headers: tuple[str, ...], key: str
) -> None:
    st.dataframe(
        rows or {c: [] for c in columns},
        column_config=dict(zip(columns, headers, strict=True)),
        hide_index=True,
        height=table_height(len(rows)),
        key=key,
    )


def _letter_row(letter: DeadLetter) -> dict[str, Any]:
    return {
        "failed_at": formats.moment(letter.failed_at),
        "field": letter.reason.get("field"),
        "rule": rule_named(letter.reason.get("rule", "?")),
        "message": letter.reason.get("message"),
        "status": texts.status_replayed if letter.replayed else texts.status_open,
        "event_id": letter.event_id,
        "data": letter.data[:MAX_SHOWN_DATA],
    }


def dead_letters() -> None:
    """Counts by rule, the letters, the choice, preview and replay, the replays recorded."""
    visitor = signin.visitor()
    with components.reaching(me, "MongoDB", settings.mongodb_uri_redacted):
        counted = dead_letter_counts(resources.mongo_database())
        by_rule = dict(sorted(counted.open_by_rule.items(), key=lambda item: (-item[1], item[0])))
        if by_rule:
            st.subheader(texts.by_reason)
            reasons = [
                {texts.rule: rule_named(rule), texts.count: n} for rule, n in by_rule.items()
            ]
            chart = components.bar_chart(me, reasons, texts.rule, texts.count)
            st.altair_chart(chart, width="stretch")
        first, second = st.columns([3, 1])
        rules = first.multiselect(
            texts.reason,
            list(by_rule),
            format_func=rule_named,
            placeholder=me.texts.app.choose,
            key="dead_rules",
        )
        put_right_too = second.toggle(texts.show_put_right, key="dead_put_right")
        try:
            dead_letter_query(rules)  # the filters' one check: reasons are short lower-case words
        except FilterError as e:
            st.warning(components.filter_problem(me, e))
            return
        desk = resources.dead_letter_desk()
        any_rule: list[str | None] = [None]
        letters = [
            letter
            for rule in (rules or any_rule)
            for letter in desk.list(
                Selection(rule=rule, include_replayed=put_right_too), limit=MAX_LISTED
            )
        ]
        if not letters:
            st.info(texts.none_yet, icon=":material/check_circle:")
        else:
            st.markdown(texts.listed.format(count=formats.count(len(letters))))
        headers = (
            texts.failed_at,
            texts.field,
            texts.rule,
            texts.message,
            texts.status,
            texts.event_id,
            texts.data,
        )
        if letters:  # none: the sentence above says so
            letter_rows = [_letter_row(letter) for letter in letters]
            _table(letter_rows, LETTER_COLUMNS, headers, "dead_table")

        labels = {
            letter.letter_id: f"{formats.moment(letter.failed_at)} · "
            f"{rule_named(letter.reason.get('rule', '?'))} · {letter.event_id}"
            for letter in letters
            if letter.replayed is None
        }
        if st.session_state.get(CHOSEN_KEY):  # letters put right meanwhile leave the choice
            st.session_state[CHOSEN_KEY] = [i for i in st.session_state[CHOSEN_KEY] if i in labels]
        left, right = st.columns([3, 1])
        every = right.checkbox(texts.select_all, key=ALL_KEY, disabled=not labels)
        picked = left.multiselect(
            texts.select,
            list(labels),
            format_func=labels.__getitem__,
            placeholder=me.texts.app.choose,
            disabled=every,
            key=CHOSEN_KEY,
        )
        chosen = tuple(labels) if every else tuple(picked)
        st.caption(texts.select_help)
        first, second, _ = st.columns([1, 1, 4])
        first.button(
            texts.preview_button,
            disabled=not chosen,
            on_click=_run,
            args=(chosen,),
            kwargs={"replay": False},
            key="dead_preview",
        )
        second.button(
            texts.replay_button,
            type="primary",
            disabled=not (chosen and visitor.may_replay),
            on_click=_run,
            args=(chosen,),
            kwargs={"replay": True},
            key="dead_replay",
        )
        if not visitor.may_replay:
            st.caption(_why_not(visitor))
        shown = st.session_state.get(REPORT_KEY)
        if isinstance(shown, str):
            st.warning(shown)
        elif shown is not None:
            _show_report(*shown)
        st.subheader(texts.history)
        rows = [
            {
                "started_at": formats.moment(r.started_at),
                "by": r.by,
                "letter": r.letter_id,
                "outcome": _recorded(r.outcome),
                "reason": _said(r.reason),
                "vote_id": r.vote_id,
            }
            for r in desk.history(limit=HISTORY)
        ]
        history_headers = (
            texts.started,
            texts.by,
            texts.letter,
            texts.outcome,
            texts.reason_now,
            texts.vote_id,
        )
        if rows:
            _table(rows, HISTORY_COLUMNS, history_headers, key="dead_history")
        else:
            st.caption(texts.no_replays)


st.title(texts.title)
st.caption(texts.caption)
dead_letters()
