"""The answer cache on a real database: what hits, what never does, what ends an entry, what is logged."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy.pool import QueuePool

from rag.analytics import Period, cost_totals, invalidate_rollups
from rag.answer.cache import CacheScope, find_similar, normalise_question, remember
from rag.answer.conversations import conversation_exchanges
from rag.answer.not_known import NOT_KNOWN
from rag.answer.pipeline import Answer, prepare, stream
from rag.console import Console, open_console
from rag.errors import ConfigError, ModelError
from rag.ingest.pipeline import ingest_file
from rag.library.documents import delete_document
from rag.settings import load_settings
from tests.conftest import ConsoleFactory, settings_for
from tests.fakes import HashEmbedder, ScriptedGenerator

RETURNS = b"# Returns\n\nOpened headphones can be returned within 14 days. Refunds reach the card in five business days."
RETURNS_V2 = b"# Returns\n\nOpened headphones can be returned within 30 days. Refunds reach the card in two business days."
SHIPPING = b"# Shipping\n\nParcels to Germany and France arrive in three to five business days by courier."
QUESTION = "How long can opened headphones be returned?"
REPLY = "Opened headphones can be returned within 14 days [1]."
# Dollars per million tokens: the scripted model's answers and the hash embedder's calls have a price.
PRICES = json.dumps({"scripted-model": [1000, 2000], "hash-1024": [10]})

Setup = tuple[Console, ScriptedGenerator, HashEmbedder]


@pytest.fixture
def make(make_console: ConsoleFactory) -> object:
    def build(**env: str) -> Setup:
        generator, embedder = ScriptedGenerator(), HashEmbedder(dims=1024)
        console = make_console(
            embedder=embedder, generator=generator, MIN_RELEVANCE="0.2", MODEL_PRICES=PRICES, **env
        )
        for name, data in (("returns.md", RETURNS), ("shipping.md", SHIPPING)):
            assert ingest_file(console, name, data, user="km").ok
        return console, generator, embedder

    return build


@pytest.fixture
def setup(make: object) -> Setup:
    return make()  # type: ignore[operator,no-any-return]


def answer(console: Console, question: str, *, user: str = "agent", **kw: object) -> Answer:
    result = prepare(console, question, user=user, **kw)  # type: ignore[arg-type]
    text = "".join(stream(result))
    assert text == result.answer
    return result


def scalar(console: Console, sql: str, **params: object) -> object:
    with console.engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar_one()


def test_questions_are_normalised_for_the_key() -> None:
    assert normalise_question("  How LONG can\tI return it?? ") == "how long can i return it"
    assert normalise_question("Straße…") == normalise_question("STRASSE")
    assert normalise_question("Refund policy (2024)?") == "refund policy (2024)"


def test_a_repeated_question_is_answered_from_the_cache_and_logged_as_a_hit(setup: Setup) -> None:
    console, generator, embedder = setup
    generator.replies.append(REPLY)
    first = answer(console, QUESTION)
    embeds = len(embedder.calls)
    again = answer(console, "  how LONG can opened   headphones be returned ")
    assert generator.requests and len(generator.requests) == 1  # the model was not asked again
    assert len(embedder.calls) == embeds  # an exact match needs no embedding either
    assert (again.answer, again.cited, again.answered) == (REPLY, {1}, True)
    assert [p.chunk_id for p in again.passages] == [p.chunk_id for p in first.passages]
    assert first.cached_at is None and again.cached_at is not None
    assert again.answer_id != first.answer_id and again.conversation_id != first.conversation_id
    # Reopened later, the conversation still says the answer came from the cache, and since when.
    [reopened] = conversation_exchanges(console.engine, again.conversation_id)
    assert reopened.cached_at and again.cached_at and reopened.curated_by is None
    assert abs(reopened.cached_at - again.cached_at) < timedelta(seconds=5)  # the original, when it ended
    with console.engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT id, cache_hit, cost_usd, saved_usd, cached_from, tokens_in FROM answers ORDER BY id"
            )
        ).all()
        calls = conn.execute(
            sa.text("SELECT count(*) FROM model_calls WHERE answer_id = :a"), {"a": again.answer_id}
        )
        sources = conn.execute(
            sa.text("SELECT number, cited FROM answer_sources WHERE answer_id = :a ORDER BY number"),
            {"a": again.answer_id},
        ).all()
        hits = conn.execute(sa.text("SELECT hits FROM answer_cache")).scalar_one()
    original, hit = rows
    assert original.cost_usd > 0 and not original.cache_hit and original.saved_usd is None
    assert (hit.cache_hit, hit.cached_from, hit.tokens_in, hit.cost_usd) == (True, first.answer_id, 0, 0)
    assert hit.saved_usd == original.cost_usd  # nothing was paid for the hit
    assert calls.scalar_one() == 0
    assert sources[0] == (1, True) and len(sources) == len(first.passages)
    assert hits == 1


def test_the_cache_is_never_shared_across_users(setup: Setup) -> None:
    console, generator, _ = setup
    answer(console, QUESTION, user="ana")
    other = answer(console, QUESTION, user="ben")
    assert len(generator.requests) == 2 and other.cached_at is None
    assert answer(console, QUESTION, user="ben").cached_at is not None
    assert len(generator.requests) == 2


def test_replacing_a_document_the_answer_used_ends_the_entry(setup: Setup) -> None:
    console, generator, _ = setup
    answer(console, QUESTION)
    assert answer(console, QUESTION).cached_at is not None
    result = ingest_file(console, "returns.md", RETURNS_V2, user="km")
    assert result.outcome == "replaced"
    generator.replies.append("Within 30 days [1].")
    fresh = answer(console, QUESTION)
    assert fresh.cached_at is None and fresh.answer == "Within 30 days [1]." and len(generator.requests) == 2
    assert answer(console, QUESTION).answer == "Within 30 days [1]."  # the new answer is cached in turn
    assert len(generator.requests) == 2


def test_deleting_a_document_the_answer_used_ends_the_entry(setup: Setup) -> None:
    console, _, _ = setup
    first = answer(console, QUESTION)
    document_id = next(p.document_id for p in first.passages if p.document == "Returns")
    assert delete_document(console.engine, console.kb, document_id)
    after = answer(console, QUESTION)
    assert (after.answer, after.cached_at) == (NOT_KNOWN, None)  # only the shipping text is left
    assert "Returns" not in {p.document for p in after.passages}


def test_an_entry_is_not_written_when_a_passage_changed_before_it(setup: Setup) -> None:
    console, _, _ = setup
    first = answer(console, QUESTION)
    with console.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM answer_cache"))
    returns = [p for p in first.passages if p.document == "Returns"]
    # The answer was being generated while its document was replaced: its chunks are gone.
    assert ingest_file(console, "returns.md", RETURNS_V2, user="km").outcome == "replaced"
    scope = CacheScope(console.kb, "agent", console.generator.model, 24)
    written = remember(
        console.engine, scope, question=QUESTION, vector=None, answer_id=first.answer_id,
        answer=first.answer, passages=first.passages, cited=first.cited, used=returns,
    )  # fmt: skip
    assert not written and scalar(console, "SELECT count(*) FROM answer_cache") == 0


def test_follow_ups_are_neither_looked_up_nor_cached(setup: Setup) -> None:
    console, generator, _ = setup
    first = answer(console, QUESTION)
    follow = answer(console, QUESTION, conversation_id=first.conversation_id)  # with history
    assert follow.cached_at is None and len(generator.requests) == 2
    answer(console, "And the refund?", conversation_id=first.conversation_id)
    assert scalar(console, "SELECT count(*) FROM answer_cache") == 1
    assert scalar(console, "SELECT question_key FROM answer_cache") == normalise_question(QUESTION)


def test_a_similar_question_hits_above_the_threshold_only(make: object) -> None:
    console, generator, embedder = make(ANSWER_CACHE_SIMILARITY="0.9")  # type: ignore[operator]
    similar = "How long can opened headphones be returned, please?"
    vectors = embedder.embed(
        [QUESTION, similar, "How long can returned headphones be opened at home?"]
    ).vectors
    assert 0.9 <= float(vectors[0] @ vectors[1]) < 0.95
    answer(console, QUESTION)
    hit = answer(console, similar)
    assert hit.cached_at is not None and len(generator.requests) == 1
    assert answer(console, similar, user="ben").cached_at is None  # still never across users
    with console.engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT saved_usd, cost_usd FROM answers WHERE id = :a"), {"a": hit.answer_id}
        ).one()
        original = conn.execute(sa.text("SELECT cost_usd FROM answers ORDER BY id LIMIT 1")).scalar_one()
    # A similarity hit paid for its query embedding: that is not saved.
    assert row.cost_usd > 0 and row.saved_usd == original - row.cost_usd

    strict, generator, _ = make(KNOWLEDGE_BASE="strict")  # type: ignore[operator]  # the default, 0.95
    answer(strict, QUESTION)
    assert answer(strict, similar).cached_at is None and len(generator.requests) == 2
    exact_only, generator, _ = make(KNOWLEDGE_BASE="exact", ANSWER_CACHE_SIMILARITY="off")  # type: ignore[operator]
    answer(exact_only, QUESTION)
    assert answer(exact_only, QUESTION + " ").cached_at is not None
    assert answer(exact_only, QUESTION.replace("?", " please?")).cached_at is None


def test_unknown_failed_and_cut_answers_are_not_cached(setup: Setup) -> None:
    console, generator, _ = setup
    assert answer(console, "zzz qqq xxx").answer == NOT_KNOWN
    assert answer(console, "zzz qqq xxx").cached_at is None
    generator.replies.append(NOT_KNOWN)  # the model itself does not know
    answer(console, "Where do parcels to Germany go?")
    generator.fail_at_start = ModelError("The model service is down.", code="server_error")
    assert answer(console, QUESTION).error
    generator.fail_at_start = None
    generator.cut_after_words = 2
    assert answer(console, QUESTION).incomplete
    assert scalar(console, "SELECT count(*) FROM answer_cache") == 0
    generator.cut_after_words = None
    generator.replies.append("Three to five business days [1].")
    assert answer(console, "Where do parcels to Germany go?").cached_at is None  # asked again, not cached
    assert scalar(console, "SELECT count(*) FROM answer_cache") == 1


def test_expired_entries_other_models_and_a_switched_off_cache_miss(setup: Setup, make: object) -> None:
    console, generator, _ = setup
    answer(console, QUESTION)
    with console.engine.begin() as conn:
        conn.execute(sa.text("UPDATE answer_cache SET created_at = now() - interval '25 hours'"))
    assert answer(console, QUESTION).cached_at is None  # ANSWER_CACHE_TTL_HOURS is 24
    assert answer(console, QUESTION).cached_at is not None
    generator.model = "another-model"
    assert answer(console, QUESTION).cached_at is None
    off, generator, _ = make(KNOWLEDGE_BASE="off", ANSWER_CACHE="off")  # type: ignore[operator]
    answer(off, QUESTION)
    assert answer(off, QUESTION).cached_at is None and len(generator.requests) == 2
    assert scalar(off, "SELECT count(*) FROM answer_cache WHERE knowledge_base_id = :k", k=off.kb.id) == 0


def test_cost_analytics_count_hits_and_savings_live_and_rolled_up(setup: Setup) -> None:
    console, _, _ = setup
    answer(console, QUESTION)
    answer(console, QUESTION)
    answer(console, QUESTION.upper())
    original = scalar(console, "SELECT cost_usd FROM answers ORDER BY id LIMIT 1")
    assert isinstance(original, Decimal)
    live = cost_totals(console.engine, Period.last_days(7))
    assert (live.answers, live.cache_hits) == (3, 2) and live.saved_usd == pytest.approx(float(original) * 2)
    with console.engine.begin() as conn:  # the same rows, a closed day ago: read from the rollups
        for table in ("answers", "model_calls"):
            conn.execute(sa.text(f"UPDATE {table} SET created_at = created_at - interval '1 day'"))
        invalidate_rollups(conn)  # as the demo generator does after writing past days
    rolled = cost_totals(console.engine, Period.last_days(7))
    assert scalar(console, "SELECT sum(cache_hits) FROM rollup_answers") == 2
    assert (rolled.cache_hits, rolled.saved_usd) == (live.cache_hits, pytest.approx(live.saved_usd))


def test_cache_settings_are_validated() -> None:
    settings = settings_for()
    assert (settings.answer_cache, settings.answer_cache_similarity, settings.answer_cache_ttl_hours) == (
        True,
        0.95,
        24.0,
    )
    assert settings_for(ANSWER_CACHE="OFF", ANSWER_CACHE_SIMILARITY="off").answer_cache_similarity is None
    assert settings_for(DB_POOL_SIZE="20", DB_MAX_OVERFLOW="0").db_pool_size == 20
    with pytest.raises(ConfigError, match="ANSWER_CACHE must be on or off"):
        settings_for(ANSWER_CACHE="sometimes")
    with pytest.raises(ConfigError, match=r"between 0\.8 and 1"):
        settings_for(ANSWER_CACHE_SIMILARITY="0.5")
    with pytest.raises(ConfigError, match="ANSWER_CACHE_TTL_HOURS must be positive"):
        settings_for(ANSWER_CACHE_TTL_HOURS="0")
    with pytest.raises(ConfigError, match="DB_POOL_SIZE"):
        settings_for(DB_POOL_SIZE="0")


def test_the_vector_of_a_similarity_lookup_must_match_the_entries_dimensions(setup: Setup) -> None:
    console, _, _ = setup
    answer(console, QUESTION)
    scope = CacheScope(console.kb, "agent", console.generator.model, 24)
    assert find_similar(console.engine, scope, np.ones(8, dtype=np.float32), threshold=0.9) is None


def test_the_pool_is_sized_from_the_settings(database_url: str, tmp_path: Path) -> None:
    env = {
        "DATABASE_URL": database_url,
        "DATA_DIR": str(tmp_path),
        "DB_POOL_SIZE": "3",
        "DB_MAX_OVERFLOW": "4",
    }
    console = open_console(load_settings(env, secrets_file=None))
    try:
        pool = console.engine.pool
        assert isinstance(pool, QueuePool) and (pool.size(), pool._max_overflow) == (3, 4)
    finally:
        console.engine.dispose()
