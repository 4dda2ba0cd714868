"""Unanswered questions on a real database with the real local model: flagged, grouped, resolved, re-asked."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from db.models import Answer
from rag.analytics.gaps import assign_group, mark_answered
from rag.analytics.unanswered import (
    UnansweredGroup,
    normalise_question,
    reask,
    reopen_group,
    resolve_group,
    unanswered_groups,
)
from rag.answer import pipeline
from rag.answer.curated import list_curated_answers
from rag.answer.feedback import record_feedback
from rag.answer.pipeline import prepare, stream
from rag.auth import add_user
from rag.auth.audit import audit_entries
from rag.console import Console
from rag.ingest.pipeline import ingest_file
from rag.providers.extractive import ExtractiveGenerator
from rag.providers.local_embedder import LocalEmbedder
from rag.text import escape_markdown
from tests.conftest import ConsoleFactory
from tests.test_pages import USER, button, open_page, pages_console, run, table

SECURITY = (
    b"# Account security\n\n"
    b"To reset your password, open Settings, choose Security and click Reset password. "
    b"A reset link is emailed to you and stays valid for 30 minutes. "
    b"Two-factor authentication can be turned on under Security with an authenticator app."
)
EXPORT = (
    b"# Exporting data\n\n"
    b"You can export your data to Excel: open Reports, click Export and choose the Excel (XLSX) format. "
    b"The spreadsheet downloads at once and holds every record of the report."
)
EXCEL = [
    "How do I export my data to Excel?",
    "Can I export data into an Excel spreadsheet?",
    "export to excel possible?",
]
DISCOUNT = ["Do you offer student discounts?", "Is there a discount for students?"]
RATED_DOWN = "How long is the password reset link valid?"
ANSWERED = "How do I reset my password?"
DEMO = "Do you have an Android app?"


def answer(console: Console, question: str) -> pipeline.Answer:
    result = prepare(console, question, user="agent")
    for _ in stream(result):
        pass
    return result


@dataclass
class Scenario:
    console: Console
    today: date
    ids: dict[str, int]

    def groups(
        self,
        *,
        start: date | None = None,
        end: date | None = None,
        demo: bool = False,
        similarity: float = 0.8,
        limit: int = 500,
    ) -> list[UnansweredGroup]:
        return unanswered_groups(
            self.console.engine,
            start=start or self.today,
            end=end or self.today,
            demo=demo,
            threshold=self.console.settings.min_relevance,
            similarity=similarity,
            limit=limit,
        )


@pytest.fixture
def scenario(make_console: ConsoleFactory, local_embedder: LocalEmbedder) -> Scenario:
    console = make_console(embedder=local_embedder, generator=ExtractiveGenerator(embedder=local_embedder))
    assert ingest_file(console, "security.md", SECURITY, user="km").ok
    ids = {q: answer(console, q).answer_id for q in [*EXCEL, *DISCOUNT, RATED_DOWN, ANSWERED, DEMO]}
    record_feedback(console.engine, answer_id=ids[RATED_DOWN], user="agent", rating=-1, reason="wrong")
    record_feedback(console.engine, answer_id=ids[ANSWERED], user="agent", rating=1)
    with console.engine.begin() as conn:
        conn.execute(sa.update(Answer).where(Answer.id == ids[DEMO]).values(is_demo=True))
        today = conn.execute(sa.text("SELECT current_date")).scalar_one()
    return Scenario(console, today, ids)


def test_flagged_questions_are_grouped_by_meaning(scenario: Scenario) -> None:
    groups = scenario.groups()
    assert [g.count for g in groups] == [3, 2, 1]
    excel, discount, rated = groups
    assert excel.examples == EXCEL[::-1]  # most recent first
    assert excel.answer_ids == sorted(scenario.ids[q] for q in EXCEL)
    assert excel.key == min(excel.answer_ids)
    assert excel.reasons == discount.reasons == ["not answered", "low confidence"]
    assert excel.first_seen < excel.last_seen
    assert discount.examples == DISCOUNT[::-1]
    assert rated.examples == [RATED_DOWN] and rated.reasons == ["rated down"]
    assert all(g.closest_documents == ["Account security"] for g in groups)
    assert not any(g.resolved or g.resolution_note for g in groups)
    flagged = {i for g in groups for i in g.answer_ids}
    assert scenario.ids[ANSWERED] not in flagged and scenario.ids[DEMO] not in flagged


def test_demo_rows_and_other_periods_are_kept_apart(scenario: Scenario) -> None:
    [demo] = scenario.groups(demo=True)
    assert demo.examples == [DEMO] and demo.count == 1
    yesterday = scenario.today - timedelta(days=1)
    assert scenario.groups(start=yesterday - timedelta(days=7), end=yesterday) == []
    assert [g.count for g in scenario.groups(end=scenario.today + timedelta(days=3))] == [3, 2, 1]


def test_a_stricter_similarity_splits_paraphrases_and_limit_keeps_the_latest(scenario: Scenario) -> None:
    assert [g.count for g in scenario.groups(similarity=0.99)] == [1] * 6
    latest = scenario.groups(limit=2)
    assert sorted(e for g in latest for e in g.examples) == sorted([RATED_DOWN, DISCOUNT[1]])


def test_a_group_is_resolved_with_a_note_then_reopened(scenario: Scenario) -> None:
    engine = scenario.console.engine
    excel = scenario.groups()[0]
    assert resolve_group(engine, excel.answer_ids, user="km", note=" Added export guide. ") == 3
    resolved = scenario.groups()[0]
    assert resolved.resolved and resolved.resolution_note == "Added export guide."
    assert resolved.key == excel.key and resolved.answer_ids == excel.answer_ids
    with engine.connect() as conn:
        who = conn.execute(sa.select(Answer.resolved_by).where(Answer.id.in_(excel.answer_ids))).scalars()
        assert set(who) == {"km"}
    assert not any(g.resolved for g in scenario.groups()[1:])

    # The same question asked again after the fix makes the group open again.
    answer(scenario.console, EXCEL[0])
    again = scenario.groups()[0]
    assert again.count == 4 and not again.resolved and again.resolution_note == "Added export guide."

    assert reopen_group(engine, again.answer_ids) == 4
    reopened = scenario.groups()[0]
    assert not reopened.resolved and reopened.resolution_note is None
    assert resolve_group(engine, [], user="km", note="") == 0


def test_reask_uses_todays_library_and_stays_out_of_the_figures(scenario: Scenario) -> None:
    console = scenario.console
    groups_before = scenario.groups()
    before = reask(console, EXCEL, user="km")
    assert [r.answered for r in before] == [False, False, False]
    assert all(r.top_document == "Account security" for r in before)
    assert all(r.best_score is not None and r.best_score < console.settings.min_relevance for r in before)
    assert ingest_file(console, "export.md", EXPORT, user="km").ok

    after = reask(console, EXCEL, user="km")
    assert [r.question for r in after] == EXCEL
    assert all(r.answered and r.top_document == "Exporting data" for r in after)
    assert all("Excel" in r.answer and "[1]" in r.answer for r in after)
    # Logged as re-asks (they cost and count for km's limits), never as new unanswered questions.
    with console.engine.connect() as conn:
        kinds = conn.execute(
            sa.text("SELECT kind, in_figures, user_name FROM answers WHERE kind = 'reask'")
        ).all()
    assert kinds == [("reask", False, "km")] * 6
    assert [(g.count, g.examples) for g in scenario.groups()] == [
        (g.count, g.examples) for g in groups_before
    ]


def test_questions_without_embeddings_group_by_their_wording(make_console: ConsoleFactory) -> None:
    console = make_console()
    base = {
        "knowledge_base_id": console.kb.id,
        "answer": "I don't know based on the documents I have.",
        "answered": False,
        "answer_mode": "offline",
        "model": "extractive",
        "embedding_model": console.embedder.model,
        "user_name": "agent",
    }
    questions = ["How to export?", "how to EXPORT", "How to import?"]
    with console.engine.begin() as conn:
        conn.execute(sa.insert(Answer), [{**base, "question": q} for q in questions])
        today = conn.execute(sa.text("SELECT current_date")).scalar_one()
    groups = unanswered_groups(console.engine, start=today, end=today, demo=False, threshold=0.4)
    assert [(g.count, g.examples) for g in groups] == [
        (2, ["how to EXPORT"]),  # one wording shown once: same time, so the larger id is the latest
        (1, ["How to import?"]),
    ]
    assert groups[0].reasons == ["not answered"] and groups[0].closest_documents == []
    assert normalise_question("  Export, to EXCEL?! ") == "export to excel"


# The Unanswered page (sign-in off: everyone is the manager USER), on rows planted in its database.

STATES = {  # question -> how many times it was asked; each a group in its own state
    "Can I pay by invoice?": 4,  # open
    "Is there a mobile app?": 3,  # assigned
    "How do I export to Excel?": 2,  # answered, awaiting confirmation
    "Do you offer student discounts?": 1,  # resolved
}


@pytest.fixture
def page_console(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Console]:
    yield from pages_console(database_url, tmp_path / "data", monkeypatch)


def plant(console: Console, question: str, times: int) -> list[int]:
    """A question the assistant could not answer, asked `times` times today; returns the answer ids."""
    row = {
        "knowledge_base_id": console.kb.id,
        "question": question,
        "answer": "I don't know.",
        "answered": False,
        "answer_mode": "offline",
        "model": "extractive",
        "embedding_model": "all-MiniLM-L6-v2",
        "user_name": "agent@example.com",
        "total_ms": 100,
        "state": "done",
    }
    with console.engine.begin() as conn:
        return list(conn.execute(sa.insert(Answer).returning(Answer.id), [row] * times).scalars())


def work_on(at: AppTest, answer_ids: list[int]) -> AppTest:
    """Choose the group of these answers (its key is the smallest id) in "Work on a group"."""
    return run(next(s for s in at.selectbox if s.label == "Work on a group").set_value(min(answer_ids)))


def states_page(console: Console) -> tuple[AppTest, dict[str, list[int]]]:
    ids = {q: plant(console, q, n) for q, n in STATES.items()}
    engine = console.engine
    assign_group(engine, ids["Is there a mobile app?"], assignee="km@example.com", due_on=None, user="test")
    mark_answered(
        engine,
        ids["How do I export to Excel?"],
        document_id=None,
        document_title="Exporting data",
        answer_text="Open Reports and click **Export** [1].",
        reask_answer_id=ids["How do I export to Excel?"][0],
    )
    resolve_group(engine, ids["Do you offer student discounts?"], user="test", note="Added pricing.md")
    at = open_page("pages/analytics_unanswered.py")
    run(next(t for t in at.toggle if t.label == "Include resolved groups").set_value(True))
    return at, ids


def test_the_page_shows_each_groups_state_and_confirms_an_answered_one(page_console: Console) -> None:
    at, ids = states_page(page_console)
    shown = table(at, "Why flagged")
    assert dict(zip(shown["Question"], shown["State"], strict=True)) == {
        "Can I pay by invoice?": "Open",
        "Is there a mobile app?": "Assigned",
        "How do I export to Excel?": "Answered, awaiting confirmation",
        "Do you offer student discounts?": "Resolved",
    }
    assert list(shown["Assigned to"]) == ["", "km@example.com", "", ""]
    assert list(shown["Answered by"]) == ["", "", "Exporting data", ""]
    assert shown["Time to resolve"].iloc[3].endswith("hours")
    assert any("1 group is answered by a new document" in i.value for i in at.info)
    assert ":red-badge[:material/help: Open]" in [m.value for m in at.markdown]  # the biggest group first

    work_on(at, ids["How do I export to Excel?"])
    assert any("Answered by **Exporting data**" in i.value for i in at.info)
    assert escape_markdown("Open Reports and click **Export** [1].") in [m.value for m in at.markdown]
    run(button(at, "Confirm: it is answered").click())
    assert any("Confirmed: the group is resolved." in s.value for s in at.success)
    shown = table(at, "Why flagged")
    assert (
        dict(zip(shown["Question"], shown["State"], strict=True))["How do I export to Excel?"] == "Resolved"
    )
    [entry] = audit_entries(page_console.engine, action="gap_confirmed")
    assert entry.actor == USER and entry.detail["note"] == "Answered by Exporting data"
    resolved = table(at, "Days to resolve")  # the time-to-resolve section counts both resolved groups
    assert len(resolved) == 2 and {m.label: m.value for m in at.metric}["Groups resolved"] == "2"


def test_a_group_is_assigned_to_a_knowledge_manager_from_the_page(page_console: Console) -> None:
    add_user(page_console.engine, "km@example.com", "knowledge_manager", actor="test")
    add_user(page_console.engine, "agent@example.com", "agent", actor="test")
    ids = plant(page_console, "Can I pay by invoice?", 2)
    at = open_page("pages/analytics_unanswered.py")
    box = next(s for s in at.selectbox if s.label == "Assign to")
    assert box.options == ["km@example.com"]  # agents are not offered
    run(box.set_value("km@example.com"))  # the button is enabled once someone is chosen
    due = date.today() + timedelta(days=5)
    next(d for d in at.date_input if d.label == "Due").set_value(due)
    run(button(at, "Assign").click())
    assert any("Assigned to" in s.value for s in at.success)
    [group] = unanswered_groups(
        page_console.engine, start=date.today(), end=date.today(), demo=False, threshold=0.4
    )
    assert (group.state, group.assignee, group.due_on, group.answer_ids) == (
        "assigned",
        "km@example.com",
        due,
        ids,
    )
    assert list(table(at, "Why flagged")["State"]) == ["Assigned"]
    [entry] = audit_entries(page_console.engine, action="gap_assigned")
    assert entry.actor == USER and entry.detail["assignee"] == "km@example.com"


def test_the_right_answer_is_written_for_a_group_and_given_to_the_question(page_console: Console) -> None:
    assert ingest_file(page_console, "export.md", EXPORT, user="km@example.com").ok
    question = "Can I get my data into a spreadsheet?"
    ids = plant(page_console, question, 2)
    at = open_page("pages/analytics_unanswered.py")
    next(t for t in at.text_area if t.label == "Answer").input(
        "Yes: open Reports, click Export, choose Excel [1]."
    )
    with page_console.engine.connect() as conn:
        export = conn.execute(sa.text("SELECT id FROM documents WHERE filename = 'export.md'")).scalar_one()
    next(m for m in at.multiselect if m.label.startswith("Documents it rests on")).set_value([export])
    run(button(at, "Save the curated answer").click())
    assert any("Saved: similar questions get this answer" in s.value for s in at.success)
    assert any("Nothing left unanswered" in s.value for s in at.success)  # the group was resolved
    [curated] = list_curated_answers(page_console.engine, page_console.kb)
    assert (curated.question, curated.author, curated.document_titles) == (question, USER, ["Exporting data"])
    assert curated.source_answer_id == max(ids)
    assert list(table(at, "Written by")["Written by"]) == [USER]
    # The Ask page gives it to the same question, marked as curated.
    run(at.switch_page("pages/chat.py"))
    run(at.chat_input[0].set_value(question))
    assert at.session_state["chat"]["messages"][-1]["curated_by"] == USER
    marker = f"Curated answer by {escape_markdown(USER)}, {datetime.now(UTC):%d %b %Y}"
    assert any(c.value.startswith(marker) for c in at.caption)
