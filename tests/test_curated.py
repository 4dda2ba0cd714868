"""Curated answers on a real database with the real local model: given first, logged, invalidated."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from rag.analytics.period import Period
from rag.analytics.resolution import curated_share, curated_share_by_day
from rag.answer.conversations import conversation_exchanges
from rag.answer.curated import list_curated_answers, withdraw_curated_answer, write_curated_answer
from rag.answer.pipeline import Answer, prepare, stream
from rag.auth.audit import audit_entries
from rag.console import Console
from rag.errors import InvalidInput
from rag.ingest.pipeline import ingest_file
from rag.library.documents import delete_document
from rag.providers.extractive import ExtractiveGenerator
from rag.providers.local_embedder import LocalEmbedder
from tests.conftest import ConsoleFactory

PRICING = (
    b"# Pricing\n\nThe Team plan costs 39 dollars a month. Education and student plans are priced separately."
)
PRICING_V2 = (
    b"# Pricing\n\nThe Team plan costs 45 dollars a month. Education and student plans are priced separately."
)
QUESTION = "Is there a discount for students?"
PARAPHRASE = "Do students get a discount?"
CURATED = "Yes: students get 50% off the Team plan with a valid student card [1]."


def ask(console: Console, question: str, **kw: object) -> Answer:
    result = prepare(console, question, user="agent", **kw)  # type: ignore[arg-type]
    assert "".join(stream(result)) == result.answer
    return result


@pytest.fixture
def console(make_console: ConsoleFactory, local_embedder: LocalEmbedder) -> Console:
    console = make_console(embedder=local_embedder, generator=ExtractiveGenerator(embedder=local_embedder))
    assert ingest_file(console, "pricing.md", PRICING, user="km").ok
    return console


def pricing_id(console: Console) -> int:
    with console.engine.connect() as conn:
        return int(
            conn.execute(sa.text("SELECT id FROM documents WHERE filename = 'pricing.md'")).scalar_one()
        )


def write(console: Console, **kw: object) -> int:
    values = {
        "question": QUESTION,
        "answer": CURATED,
        "document_ids": [pricing_id(console)],
        "author": "grace",
    }
    return write_curated_answer(console, **(values | kw))  # type: ignore[arg-type]


def test_a_paraphrase_gets_the_curated_answer_marked_and_logged(console: Console) -> None:
    before = ask(console, QUESTION)
    curated_id = write(console, source_answer_id=before.answer_id)
    result = ask(console, PARAPHRASE)
    assert result.answer == CURATED and result.answered and result.confidence == "high"
    assert (result.curated_answer_id, result.curated_by) == (curated_id, "grace")
    assert result.curated_at is not None and result.cached_at is None
    [reopened] = conversation_exchanges(console.engine, result.conversation_id)  # the marker stays
    assert (reopened.curated_by, reopened.curated_at, reopened.cached_at) == (
        "grace",
        result.curated_at,
        None,
    )
    assert [(p.number, p.document) for p in result.passages] == [(1, "Pricing")] and result.cited == {1}
    with console.engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT curated_answer_id, answered, cache_hit, tokens_out FROM answers WHERE id = :a"),
            {"a": result.answer_id},
        ).one()
        sources = conn.execute(
            sa.text("SELECT document_title, cited FROM answer_sources WHERE answer_id = :a"),
            {"a": result.answer_id},
        ).all()
    assert tuple(row) == (curated_id, True, False, 0) and sources == [("Pricing", True)]
    # Unrelated questions, follow-ups and re-asks go on to retrieval.
    assert ask(console, "How much does the Team plan cost?").curated_answer_id is None
    assert ask(console, PARAPHRASE, kind="reask").curated_answer_id is None
    [summary] = list_curated_answers(console.engine, console.kb)
    assert (summary.hits, summary.source_answer_id, summary.document_titles) == (
        1,
        before.answer_id,
        ["Pricing"],
    )
    [entry] = audit_entries(console.engine, action="curated_answer_written")
    assert entry.actor == "grace" and entry.detail["documents"] == ["pricing.md"]

    period = Period(date.today() - timedelta(days=1), date.today() + timedelta(days=1))
    share = curated_share(console.engine, period)
    assert (share.questions, share.curated) == (3, 1) and share.share == pytest.approx(1 / 3)
    assert curated_share_by_day(console.engine, period)["curated"].sum() == 1


def test_replacing_a_cited_document_invalidates_the_curated_answer(console: Console) -> None:
    curated_id = write(console)
    assert ask(console, PARAPHRASE).curated_answer_id == curated_id
    assert ingest_file(console, "pricing.md", PRICING_V2, user="km").ok
    result = ask(console, PARAPHRASE)
    assert result.curated_answer_id is None and result.answer != CURATED
    [summary] = list_curated_answers(console.engine, console.kb)
    assert (
        summary.invalidated_at is not None and summary.invalidated_reason == "a cited document was replaced"
    )
    assert list_curated_answers(console.engine, console.kb, include_invalid=False) == []


def test_deleting_a_cited_document_or_withdrawing_ends_it(console: Console) -> None:
    withdrawn = write(console)
    assert withdraw_curated_answer(console.engine, console.kb, withdrawn, user="km")
    assert not withdraw_curated_answer(console.engine, console.kb, withdrawn, user="km")
    assert ask(console, QUESTION).curated_answer_id is None
    write(console)
    delete_document(console.engine, console.kb, pricing_id(console))
    assert ask(console, QUESTION).curated_answer_id is None
    reasons = [s.invalidated_reason for s in list_curated_answers(console.engine, console.kb)]
    assert reasons == ["a cited document was deleted", "withdrawn by km"]


def test_a_cached_answer_to_the_question_gives_way_to_the_curated_one(console: Console) -> None:
    question = "How much does the Team plan cost?"
    assert ask(console, question).answered
    assert ask(console, question).cached_at is not None  # cached
    write(console, question=question, answer="45 dollars a month since March [1].")
    assert ask(console, question).curated_answer_id is not None


def test_a_curated_answer_cites_documents_of_the_knowledge_base(console: Console) -> None:
    with pytest.raises(InvalidInput, match="not in the knowledge base"):
        write(console, document_ids=[pricing_id(console) + 1])
    with pytest.raises(InvalidInput, match="at least one document"):
        write(console, document_ids=[])
    with pytest.raises(InvalidInput, match="question and its answer"):
        write(console, answer="  ")
    assert list_curated_answers(console.engine, console.kb) == []


def test_curated_answers_can_be_turned_off(
    make_console: ConsoleFactory, local_embedder: LocalEmbedder
) -> None:
    console = make_console(
        embedder=local_embedder,
        generator=ExtractiveGenerator(embedder=local_embedder),
        CURATED_SIMILARITY="off",
    )
    assert ingest_file(console, "pricing.md", PRICING, user="km").ok
    write(console)
    assert ask(console, QUESTION).curated_answer_id is None
