"""The random simulation of a batch of exchanges: conversations, questions, outcomes and timings."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from rag.demo.catalog import Catalog
from rag.demo.copy_text import Bools, Floats, Ints
from rag.demo.templates import AGENT_SHARES, AGENTS, ERRORS, HOURLY, WEEKDAY


@dataclass(frozen=True)
class Traffic:
    """One batch of simulated exchanges as arrays: one entry per answer unless the name says otherwise."""

    agent: Ints  # per conversation
    first_of_conversation: Ints  # per conversation: the index of its first answer
    conversation: Ints
    created: Floats  # epoch seconds
    template: Ints
    variant: Ints
    model: Ints  # index into MODELS
    error: npt.NDArray[np.str_]  # "" when none
    answered: Bools
    chat: Bools  # a chat call was made
    generated: Bools  # the chat call streamed an answer
    best_score: Floats
    scores: Floats  # (n, 5), best first
    source_count: Ints
    cited: Ints  # sources 1..cited are cited
    embed_tokens: Ints
    tokens_in: Ints
    tokens_out: Ints
    embed_ms: Floats
    cache_ms: Floats
    retrieve_ms: Floats
    log_ms: Floats
    first_token_ms: Floats  # from the question taken to the first text shown: meaningful unless failed
    chat_ms: Floats  # how long the chat call took, failed or not (the generation stage); 0 without one
    total_ms: Floats  # the stages above (first text aside) and a remainder


def simulate(rng: np.random.Generator, n: int, window: tuple[float, float], c: Catalog) -> Traffic:
    sizes = _conversation_sizes(rng, n)
    first = np.cumsum(sizes) - sizes
    conversation = np.repeat(np.arange(len(sizes)), sizes)
    position = np.arange(n) - first[conversation]
    # Conversations last under 15 minutes: starting 20 minutes before the end keeps them in the past.
    # In time order, as a live console writes them: each day's rows sit together in the table.
    start = np.sort(_rhythm_times(rng, len(sizes), (window[0], window[1] - 1200)))
    gaps = np.where(position == 0, 0.0, np.clip(rng.lognormal(np.log(90), 0.6, n), 15, 300))
    elapsed = np.cumsum(gaps)
    created = start[conversation] + elapsed - elapsed[first][conversation]

    # Follow-ups mostly stay on the opening question's topic.
    opening = rng.choice(len(c.weights), len(sizes), p=c.weights)[conversation]
    related = c.topic_members[opening, (rng.random(n) * c.topic_sizes[opening]).astype(np.int64)]
    unrelated = rng.choice(len(c.weights), n, p=c.weights)
    template = np.where(position == 0, opening, np.where(rng.random(n) < 0.6, related, unrelated))
    variant = c.first_variant[template] + (rng.random(n) * c.variant_counts[template]).astype(np.int64)

    # The team moves traffic to the cheaper model over the period.
    u = rng.random(n)
    mini_share = 0.12 + 0.18 * (created - window[0]) / (window[1] - window[0])
    model = np.where(u < 0.08, 2, np.where(u < 0.08 + mini_share, 1, 0))
    extractive = model == 2
    failed = ~extractive & (rng.random(n) < 0.035)
    error = np.where(failed, rng.choice(list(ERRORS), n, p=[0.4, 0.35, 0.25]), "")
    not_known = ~failed & (~c.answerable[template] | (rng.random(n) < 0.035))
    declined = not_known & (rng.random(n) < 0.25)  # passages were relevant, the model still said no
    answered = ~failed & ~not_known
    chat = answered | declined | failed

    best = 0.42 + 0.5 * rng.beta(5, 3, n)
    best = np.where(answered & (rng.random(n) < 0.1), rng.uniform(0.40, 0.48, n), best)
    best = np.where(
        declined, rng.uniform(0.40, 0.50, n), np.where(not_known, rng.uniform(0.12, 0.39, n), best)
    )
    drops = np.abs(rng.normal(0.035, 0.02, (n, 5)))
    drops[:, 0] = 0
    source_count = rng.choice([1, 2, 3, 4, 5], n, p=[0.04, 0.05, 0.06, 0.1, 0.75])
    source_count = np.minimum(source_count, min(len(s) for s in c.sources))
    cited = np.where(answered, np.minimum(rng.choice([1, 2, 3], n, p=[0.5, 0.35, 0.15]), source_count), 0)

    # A follow-up is embedded twice: alone and after the previous question.
    previous = np.where(position > 0, np.roll(variant, 1), variant)
    embed_tokens = c.variant_tokens[variant] + np.where(
        position > 0, c.variant_tokens[variant] + c.variant_tokens[previous] + 1, 0
    )
    generated = chat & ~failed
    prompt = np.clip(rng.normal(2900, 450, n), 800, None) + 180 * np.minimum(position, 3)
    tokens_in = np.where(extractive, rng.lognormal(np.log(420), 0.3, n), prompt)
    reply = np.where(extractive, rng.lognormal(np.log(90), 0.4, n), rng.lognormal(np.log(170), 0.45, n))
    tokens_out = np.where(declined, rng.integers(11, 16, n), np.clip(reply, 20, 700))

    generate_ms = rng.lognormal(np.log(np.array([3000.0, 1700.0, 35.0])[model]), 0.45)
    generate_ms = np.clip(np.where(declined, generate_ms * 0.35, generate_ms), 5, 25_000)
    model_first_token = np.minimum(
        rng.lognormal(np.log(np.array([520.0, 380.0, 6.0])[model]), 0.3), generate_ms
    )
    fail_ms = np.select(
        [error == "timeout", error == "rate_limited"],
        [30_000 + rng.uniform(0, 900, n), rng.lognormal(np.log(2500), 0.5, n)],
        rng.lognormal(np.log(1500), 0.6, n),
    )
    chat_ms = np.where(failed, fail_ms, np.where(generated, generate_ms, 0.0))
    embed_ms = np.clip(rng.lognormal(np.log(38), 0.35, n), 8, 800)
    cache_ms = np.clip(rng.lognormal(np.log(4), 0.45, n), 1, 200)  # by wording, then by vector
    retrieve_ms = np.clip(rng.lognormal(np.log(20), 0.35, n), 4, 500)
    log_ms = np.clip(rng.lognormal(np.log(9), 0.4, n), 2, 400)  # the row taken, then finished
    overhead = rng.lognormal(np.log(25), 0.4, n)  # reading the conversation, drawing
    # The first text: the model's first token, or at once ("I don't know"), after the row is taken
    # and the passages are found.
    first_token_ms = (
        0.4 * log_ms
        + 0.5 * overhead
        + embed_ms
        + cache_ms
        + retrieve_ms
        + np.where(generated, model_first_token, 1.0)
    )
    return Traffic(
        agent=rng.choice(len(AGENTS), len(sizes), p=AGENT_SHARES),
        first_of_conversation=first,
        conversation=conversation,
        created=created,
        template=template,
        variant=variant,
        model=model,
        error=error,
        answered=answered,
        chat=chat,
        generated=generated,
        best_score=best,
        scores=best[:, None] - np.cumsum(drops, axis=1),
        source_count=source_count,
        cited=cited,
        embed_tokens=embed_tokens,
        tokens_in=np.where(generated, tokens_in, 0).astype(np.int64),
        tokens_out=np.where(generated, tokens_out, 0).astype(np.int64),
        embed_ms=embed_ms,
        cache_ms=cache_ms,
        retrieve_ms=retrieve_ms,
        log_ms=log_ms,
        first_token_ms=first_token_ms,
        chat_ms=chat_ms,
        total_ms=embed_ms + cache_ms + retrieve_ms + chat_ms + log_ms + overhead,
    )


def _conversation_sizes(rng: np.random.Generator, n: int) -> Ints:
    """Conversations of 1-4 questions adding up to exactly n."""
    sizes = rng.choice([1, 2, 3, 4], n, p=[0.45, 0.3, 0.15, 0.1])  # n of them add up to n or more
    total = np.cumsum(sizes)
    last = int(np.searchsorted(total, n))
    sizes = sizes[: last + 1].copy()
    sizes[-1] -= int(total[last]) - n
    return sizes.astype(np.int64)


def _rhythm_times(rng: np.random.Generator, count: int, window: tuple[float, float]) -> Floats:
    """Epoch seconds in the window: busier on weekdays, in office hours and towards the end."""
    found: list[Floats] = []
    needed = count
    while needed > 0:
        t = rng.uniform(window[0], window[1], needed * 5 + 16)
        day = np.floor(t / 86_400)
        weight = WEEKDAY[((day + 3) % 7).astype(np.int64)] * HOURLY[((t % 86_400) // 3600).astype(np.int64)]
        weight *= 0.8 + 0.2 * (t - window[0]) / (window[1] - window[0])
        kept = t[rng.random(len(t)) < weight][:needed]
        found.append(kept)
        needed -= len(kept)
    return np.concatenate(found)
