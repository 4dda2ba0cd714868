"""Per-user limits, checked before a question costs anything: questions per minute, tokens per day.

Both are counted from the logs (answers and model_calls), so they hold across browser tabs,
app replicas and restarts. An answer is logged when its question is taken, so questions still
streaming count, and so do interrupted ones and re-asks. Demo rows never count; neither do
uploads' embedding calls, nor the tokens of local models, which cost nothing.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from db.models import Answer, ModelCall
from rag.errors import LimitReached
from rag.settings import Settings

FREE_PROVIDERS = ("local", "offline")


def check_limits(engine: Engine, settings: Settings, user: str) -> None:
    """Raise LimitReached if `user` may not ask another question now (a limit of 0 is no limit)."""
    per_minute, per_day = settings.max_questions_per_minute, settings.max_tokens_per_day
    if per_minute and questions_last_minute(engine, user) >= per_minute:
        raise LimitReached(
            f"You have asked {per_minute} question{'' if per_minute == 1 else 's'} in the last minute, "
            "the most allowed. "
            "Wait a minute, then ask again."
        )
    if per_day:
        used = tokens_last_day(engine, user)
        if used >= per_day:
            raise LimitReached(
                f"You have used {used:,} model tokens in the last 24 hours; the limit is {per_day:,}. "
                "Ask again later, or ask an administrator to raise MAX_TOKENS_PER_DAY."
            )


def questions_last_minute(engine: Engine, user: str) -> int:
    query = sa.select(sa.func.count()).where(
        Answer.user_name == user,
        Answer.created_at > sa.func.now() - sa.text("interval '1 minute'"),
        Answer.is_demo.is_(False),
    )
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def tokens_last_day(engine: Engine, user: str) -> int:
    """Tokens sent to and received from paid model APIs for this user's questions, last 24 hours."""
    query = sa.select(sa.func.coalesce(sa.func.sum(ModelCall.tokens_in + ModelCall.tokens_out), 0)).where(
        ModelCall.user_name == user,
        ModelCall.created_at > sa.func.now() - sa.text("interval '1 day'"),
        ModelCall.is_demo.is_(False),
        ModelCall.purpose != "ingest_embedding",
        ModelCall.provider.not_in(FREE_PROVIDERS),
    )
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())
