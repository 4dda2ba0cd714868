"""Unanswered questions: what the knowledge base could not answer, grouped, assigned, answered, resolved."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Literal

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from rag.analytics import Period
from rag.analytics.gaps import GapState, assign_group, confirm_answered, reject_answered
from rag.analytics.resolution import curated_share, resolution_times, resolution_trend
from rag.analytics.unanswered import (
    Reask,
    UnansweredGroup,
    reask,
    reopen_group,
    resolve_group,
    unanswered_groups,
)
from rag.answer.curated import list_curated_answers, withdraw_curated_answer, write_curated_answer
from rag.auth import KNOWLEDGE, list_accounts
from rag.errors import ConsoleError
from rag.library import list_documents
from rag.text import escape_markdown
from ui.analytics import period_filter
from ui.auth import current_user, require_page
from ui.console import get_console
from ui.tables import Column, Columns, show_table

NOTICE = "unanswered_notice"
STATE_LABELS: dict[GapState, str] = {
    "open": "Open",
    "assigned": "Assigned",
    "answered": "Answered, awaiting confirmation",
    "resolved": "Resolved",
}
BadgeColor = Literal["red", "orange", "violet", "green"]
STATE_BADGES: dict[GapState, tuple[BadgeColor, str]] = {  # colour, icon
    "open": ("red", ":material/help:"),
    "assigned": ("orange", ":material/assignment_ind:"),
    "answered": ("violet", ":material/rate_review:"),
    "resolved": ("green", ":material/task_alt:"),
}
DUE_IN_DAYS = 14  # the default due date of an assignment
GROUP_COLUMNS: Columns = {
    "state": "State",
    "count": Column("Asked", "count", help="How many times the group's questions were asked"),
    "question": Column("Question", width="large"),
    "reasons": "Why flagged",
    "assignee": "Assigned to",
    "due_on": Column("Due", "day"),
    "answered_document": "Answered by",
    "closest_documents": "Closest documents",
    "first_seen": Column("First seen", "time"),
    "last_seen": Column("Last seen", "time"),
    "time_to_resolve": "Time to resolve",
    "resolved": "Resolved",
}
REASK_COLUMNS: Columns = {
    "question": Column("Question", width="medium"),
    "outcome": "Answered now",
    "top_document": "Best source",
    "best_score": Column("Score", "number", decimals=2),
    "answer": Column("Answer", width="large"),
}
RESOLVED_COLUMNS: Columns = {
    "title": Column("Question", width="large"),
    "first_seen": Column("First asked", "time"),
    "resolved_at": Column("Resolved", "time"),
    "days_to_resolve": Column("Days to resolve", "number", decimals=1),
    "resolved_by": "Resolved by",
    "answered_document": "Answered by",
    "note": "Note",
}
CURATED_COLUMNS: Columns = {
    "question": Column("Question", width="large"),
    "author": "Written by",
    "created_at": Column("Written", "time"),
    "cites": "Cites",
    "hits": Column("Given", "count", help="Questions that got this answer"),
    "last_hit_at": Column("Last given", "time"),
    "in_use": "In use",
}


def done(message: str) -> None:
    """Say what an action did on the page's next run, and start that run."""
    st.session_state[NOTICE] = message
    st.rerun()


def duration(delta: timedelta | None) -> str:
    """Time to resolve, for people: "5 hours", "3.2 days"; "" when not resolved."""
    if delta is None:
        return ""
    hours = delta.total_seconds() / 3600
    if hours < 24:
        return f"{max(hours, 0):.0f} hour{'' if round(hours) == 1 else 's'}"
    return f"{hours / 24:.1f} days"


def state_text(group: UnansweredGroup, today: date) -> str:
    label = STATE_LABELS[group.state]
    if group.state == "assigned" and group.due_on is not None and group.due_on < today:
        return f"{label}, overdue"
    return label


def badge(group: UnansweredGroup) -> None:
    color, icon = STATE_BADGES[group.state]
    st.badge(STATE_LABELS[group.state], color=color, icon=icon)


def _outcome(result: Reask) -> str:
    return "not asked" if result.refused else "yes" if result.answered else "no"


def groups_table(shown: list[UnansweredGroup], today: date) -> pd.DataFrame:
    """The groups under the names of GROUP_COLUMNS' keys; "" where there is nothing to say."""
    return pd.DataFrame(
        {
            "state": [state_text(g, today) for g in shown],
            "count": [g.count for g in shown],
            "question": [g.question for g in shown],
            "reasons": [", ".join(g.reasons) for g in shown],
            "assignee": [g.assignee or "" for g in shown],
            "due_on": [g.due_on for g in shown],
            "answered_document": [g.answered_document or "" for g in shown],
            "closest_documents": [", ".join(g.closest_documents) or "–" for g in shown],
            "first_seen": [g.first_seen for g in shown],
            "last_seen": [g.last_seen for g in shown],
            "time_to_resolve": [duration(g.time_to_resolve) for g in shown],
            "resolved": ["yes" if g.resolved else "" for g in shown],
        }
    )


def assign_form(group: UnansweredGroup, user: str) -> None:
    """Give the group to a knowledge manager or manager, due on a date."""
    people = [a.email for a in list_accounts(console.engine) if a.active and a.role in KNOWLEDGE]
    if group.assignee and group.assignee not in people:
        people.insert(0, group.assignee)
    left, right = st.columns(2)
    assignee = left.selectbox(
        "Assign to",
        people,
        index=people.index(group.assignee) if group.assignee else None,
        placeholder="A knowledge manager or manager",
        accept_new_options=True,  # sign-in off or an identity provider: no accounts to choose from
        key=f"assignee-{group.key}",
    )
    due_on = right.date_input(
        "Due",
        value=group.due_on or date.today() + timedelta(days=DUE_IN_DAYS),
        format="DD/MM/YYYY",
        key=f"due-{group.key}",
    )
    label = "Reassign" if group.state == "assigned" else "Assign"
    if st.button(label, icon=":material/assignment_ind:", disabled=not assignee):
        try:
            assign_group(
                console.engine,
                group.answer_ids,
                assignee=str(assignee),
                due_on=due_on if isinstance(due_on, date) else None,
                user=user,
            )
        except ConsoleError as exc:
            st.error(escape_markdown(str(exc)))
        else:
            done(f"Assigned to {escape_markdown(str(assignee))}.")


def answered_panel(group: UnansweredGroup, user: str) -> None:
    """The gap loop found the question answered by a new document: a person confirms it."""
    assert group.gap_id is not None
    found = f" on {group.answered_at:%d %b %Y}" if group.answered_at else ""
    st.info(
        f"Answered by **{escape_markdown(group.answered_document or 'a new document')}**: the question, "
        f"asked again{found}, was answered from it. Confirm if the answer below is right; reject it if "
        "the document does not answer the question.",
        icon=":material/rate_review:",
    )
    if group.proposed_answer:
        with st.container(border=True):
            st.caption("The answer it got")
            st.markdown(escape_markdown(group.proposed_answer))
    note = st.text_input("Note (optional)", key=f"confirm-note-{group.key}")
    left, right = st.columns(2)
    if left.button("Confirm: it is answered", type="primary", icon=":material/check:"):
        confirm_answered(console.engine, group.gap_id, user=user, note=note)
        done("Confirmed: the group is resolved.")
    if right.button("Reject: it is not", icon=":material/close:"):
        state = reject_answered(console.engine, group.gap_id, user=user, note=note)
        done(f"Rejected: the group is {STATE_LABELS[state].lower()} again.")


def curated_form(group: UnansweredGroup, user: str) -> None:
    """The right answer, written by a person and given to similar questions from now on."""
    documents = list_documents(console.engine, console.kb)
    titles = {d.id: f"{d.title} ({d.filename})" for d in documents}
    with st.expander("Write the right answer", icon=":material/edit_note:"):
        st.caption(
            "A curated answer is given first to this question and similar ones, marked “Curated answer "
            "by you”. It ends by itself when a document it cites is replaced or deleted. Saving it "
            "resolves the group."
        )
        if not documents:
            st.caption("Upload the documents the answer rests on first: a curated answer cites them.")
            return
        question = st.text_input("Question", value=group.question, key=f"curated-question-{group.key}")
        text = st.text_area(
            "Answer", key=f"curated-answer-{group.key}", placeholder="Cite the documents as [1], [2]…"
        )
        preset = [group.answered_document_id] if group.answered_document_id in titles else []
        cited = st.multiselect(
            "Documents it rests on ([1], [2]… in this order)",
            list(titles),
            default=preset,
            format_func=titles.__getitem__,  # options are plain text
            key=f"curated-documents-{group.key}",
        )
        if st.button("Save the curated answer", type="primary", icon=":material/save:"):
            try:
                curated_id = write_curated_answer(
                    console,
                    question=question,
                    answer=text,
                    document_ids=cited,
                    author=user,
                    source_answer_id=max(group.answer_ids),
                    gap_id=group.gap_id,
                )
            except ConsoleError as exc:
                st.error(escape_markdown(str(exc)))
            else:
                if group.gap_id is None:  # nobody acted on the group before: resolve it as well
                    resolve_group(
                        console.engine, group.answer_ids, user=user, note=f"Curated answer #{curated_id}"
                    )
                done("Saved: similar questions get this answer from now on.")


def work_on(group: UnansweredGroup, user: str) -> None:
    with st.container(border=True):
        st.markdown(f"**{escape_markdown(group.question)}**")
        badge(group)
        facts = [f"asked {group.count}×", f"first {group.first_seen:%d %b %Y}"]
        if group.assignee:
            facts.append(f"assigned to {escape_markdown(group.assignee)}")
        if group.due_on:
            facts.append(f"due {group.due_on:%d %b %Y}")
        st.caption(", ".join(facts))
        st.markdown("**Wordings**")
        for example in group.examples:  # agents' words, shown as they typed them
            st.markdown(f"- {escape_markdown(example)}")
        if group.state == "answered" and group.gap_id is not None:
            answered_panel(group, user)
        elif group.resolved:
            took = f" It took {duration(group.time_to_resolve)}." if group.time_to_resolve else ""
            st.success(f"Resolved: {escape_markdown(group.resolution_note or 'no note')}.{took}")
            if st.button("Reopen", icon=":material/undo:"):
                reopen_group(console.engine, group.answer_ids)
                done("Reopened.")
        else:
            assign_form(group, user)
            note = st.text_input("Resolution note", placeholder="e.g. Added 'Exporting data.md' on 12 March")
            if st.button("Mark resolved", type="primary", icon=":material/task_alt:"):
                resolve_group(console.engine, group.answer_ids, user=user, note=note)
                done("Resolved.")
        curated_form(group, user)
        if st.button("Re-ask against today's knowledge base", icon=":material/refresh:"):
            with st.spinner("Asking again…"):
                results = reask(console, group.examples, user=user)
            refused = next((r.refused for r in results if r.refused), None)
            if refused:
                st.warning(f"Not every wording was asked again: {escape_markdown(refused)}")
            again = pd.DataFrame(
                {
                    "question": [r.question for r in results],
                    "outcome": [_outcome(r) for r in results],
                    "top_document": [r.top_document or "–" for r in results],
                    "best_score": [r.best_score for r in results],
                    "answer": [r.answer for r in results],
                }
            )
            show_table(again, REASK_COLUMNS)


def resolution_section(period: Period) -> None:
    """How fast the gaps close, and how many questions curated answers take."""
    st.subheader("Time to resolve")
    times = resolution_times(console.engine, period)
    share = curated_share(console.engine, period)
    cols = st.columns(3)
    cols[0].metric("Groups resolved", f"{len(times):,}")
    median = times["days_to_resolve"].median() if not times.empty else None
    cols[1].metric("Median time to resolve", "–" if median is None else f"{median:.1f} days")
    cols[2].metric(
        "Answered by curated answers",
        f"{share.share:.0%}",
        help=f"{share.curated:,} of {share.questions:,} questions in the period got a curated answer.",
    )
    if times.empty:
        st.caption("No group was resolved in this period.")
        return
    trend = resolution_trend(console.engine, period)
    figure = go.Figure()
    figure.add_bar(x=trend["week"], y=trend["resolved"], name="groups resolved", yaxis="y")
    figure.add_scatter(
        x=trend["week"],
        y=trend["median_days"],
        name="median days to resolve",
        mode="lines+markers",
        yaxis="y2",
    )
    figure.update_layout(
        title="Per week: groups resolved and the median days from first question to resolution",
        yaxis={"title": "groups resolved"},
        yaxis2={"title": "median days", "overlaying": "y", "side": "right", "rangemode": "tozero"},
        xaxis={"title": None, "type": "category" if len(trend) == 1 else "date"},
        legend={"orientation": "h"},
    )
    st.plotly_chart(figure, width="stretch")
    show_table(times, RESOLVED_COLUMNS, download="resolved-groups")


def curated_section(period: Period, user: str) -> None:
    answers = list_curated_answers(console.engine, console.kb, demo=period.demo)
    st.subheader("Curated answers")
    if not answers:
        st.caption("None yet: write one for a group above with “Write the right answer”.")
        return
    table = pd.DataFrame(
        {
            "question": [c.question for c in answers],
            "author": [c.author for c in answers],
            "created_at": [c.created_at for c in answers],
            "cites": [", ".join(c.document_titles) for c in answers],
            "hits": [c.hits for c in answers],
            "last_hit_at": [c.last_hit_at for c in answers],
            "in_use": [
                "yes" if c.invalidated_at is None else f"ended: {c.invalidated_reason}" for c in answers
            ],
        }
    )
    show_table(table, CURATED_COLUMNS, download="curated-answers")
    valid = {c.id: c.question[:90] for c in answers if c.invalidated_at is None}  # options are plain text
    if valid and not period.demo:
        with st.expander("Withdraw a curated answer"):
            chosen = st.selectbox("Curated answer", list(valid), format_func=valid.__getitem__)
            if st.button("Withdraw", icon=":material/block:") and chosen is not None:
                withdraw_curated_answer(console.engine, console.kb, chosen, user=user)
                done("Withdrawn: similar questions are answered from the documents again.")


account = require_page(__file__)  # before drawing anything
console = get_console()
user = current_user(console)
st.title("Unanswered questions")
st.caption(
    "Questions the assistant could not answer, answered with low confidence, or that agents rated down, "
    "grouped so that the same question asked many ways is one row. Assign a group to the person who "
    "will document it; once new documents are uploaded the console asks the group's question again, "
    "and a group it finds answered waits here for you to confirm. Or write the right answer yourself."
)
period = period_filter(console.engine)
if notice := st.session_state.pop(NOTICE, None):
    st.success(notice, icon=":material/task_alt:")
show_resolved = st.toggle("Include resolved groups", value=False)
groups = unanswered_groups(
    console.engine,
    start=period.start,
    end=period.end,
    demo=period.demo,
    threshold=console.settings.min_relevance,
)
shown = [g for g in groups if show_resolved or not g.resolved]
if not shown:
    st.success("Nothing left unanswered in this period.", icon=":material/task_alt:")
else:
    today = datetime.now().date()
    show_table(groups_table(shown, today), GROUP_COLUMNS, download="unanswered-questions")
    awaiting = sum(g.state == "answered" for g in shown)
    if awaiting:
        st.info(
            f"{awaiting} group{' is' if awaiting == 1 else 's are'} answered by a new document and "
            "awaiting your confirmation.",
            icon=":material/rate_review:",
        )
    labels = {g.key: f"{STATE_LABELS[g.state]}: {g.question[:90]} ({g.count}×)" for g in shown}  # plain text
    key = st.selectbox("Work on a group", list(labels), format_func=labels.__getitem__)
    work_on(next(g for g in shown if g.key == key), user)
resolution_section(period)
curated_section(period, user)
