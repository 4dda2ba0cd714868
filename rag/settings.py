"""All settings in one place: environment first, then `.streamlit/secrets.toml`, then defaults.

The app, the CLI and the tests build settings the same way, so a value set in either source
means the same everywhere. Defaults are embedded and offline.
"""

from __future__ import annotations

import getpass
import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from rag.errors import ConfigError
from rag.retrieval.params import RetrievalParams
from rag.usage.pricing import DEFAULT_PRICES, Price

LOCAL_EMBEDDING_MODEL = "all-MiniLM-L6-v2"
OPENAI_EMBEDDING_MODEL = "text-embedding-3-small"
SECRETS_FILE = Path(".streamlit/secrets.toml")


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("data")
    database_url: str | None = None
    openai_api_key: str | None = field(default=None, repr=False)
    openai_base_url: str | None = None
    openai_timeout_s: float = 30.0
    openai_max_retries: int = 2
    embedding_provider: str = "local"
    embedding_model: str = LOCAL_EMBEDDING_MODEL
    embedding_batch_size: int = 64
    answer_mode: str = "offline"
    chat_model: str = "gpt-4o"
    chat_temperature: float = 0.3
    chat_max_tokens: int = 700
    knowledge_base: str = "default"
    chunk_tokens: int = 200
    chunk_overlap: int = 40
    top_k: int = 5
    retrieval_mode: str = "hybrid"
    retrieval_depth: int = 40
    rrf_k: int = 60
    dense_weight: float = 1.0
    keyword_weight: float = 1.0
    min_relevance: float = 0.4
    history_turns: int = 3
    max_upload_mb: float = 50.0
    max_question_chars: int = 2000
    default_user: str = "local user"
    prices: dict[str, Price] = field(default_factory=lambda: dict(DEFAULT_PRICES))
    # Answer cache and many users (issue 7): rag/answer_cache.py, db/engine.py.
    answer_cache: bool = True
    answer_cache_similarity: float | None = 0.95  # None: exact matches only
    answer_cache_ttl_hours: float = 24.0
    db_pool_size: int = 10
    db_max_overflow: int = 10
    # Hardening (issue 5): bounded database statements and per-user limits; 0 turns one off.
    db_statement_timeout_s: float = 60.0
    max_questions_per_minute: int = 10
    max_tokens_per_day: int = 200_000
    # Bad files (issue 5): each upload is parsed in a child process under these bounds.
    parse_timeout_s: float = 30.0
    parse_memory_mb: int = 1024
    # Ingestion embedding throughput and retries (issue 7 ingestion, issue 5 "retry longer")
    embedding_concurrency: int = 4
    embedding_requests_per_minute: float = 3000.0
    embedding_retry_attempts: int = 5
    embedding_retry_wait_s: float = 2.0
    # Retrieval at scale (issue 7): HNSW candidate list of the vector leg (bench/retrieval.py).
    hnsw_ef_search: int = RetrievalParams.ef_search
    # Sign-in and roles (issue 6): builtin accounts, OIDC through st.login, or off for a local trial.
    auth_mode: str = "builtin"
    oidc_role_claim: str | None = None
    login_max_failures: int = 5
    login_lockout_s: float = 300.0

    @property
    def embedded_database(self) -> bool:
        return self.database_url is None

    @property
    def retrieval(self) -> RetrievalParams:
        return RetrievalParams(
            mode=self.retrieval_mode,
            k=self.top_k,
            depth=self.retrieval_depth,
            rrf_k=self.rrf_k,
            dense_weight=self.dense_weight,
            keyword_weight=self.keyword_weight,
            ef_search=self.hnsw_ef_search,
        )

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)


def load_settings(env: Mapping[str, str] | None = None, secrets_file: Path | None = SECRETS_FILE) -> Settings:
    """Build and validate the settings from `env` (default: the process environment)."""
    values = _read_secrets(secrets_file)
    values.update({k: v for k, v in (os.environ if env is None else env).items() if v != ""})
    return _build(values)


def _read_secrets(path: Path | None) -> dict[str, str]:
    if path is None or not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    return {k: str(v) for k, v in data.items() if isinstance(v, str | int | float | bool)}


def _build(v: Mapping[str, str]) -> Settings:
    key = v.get("OPENAI_API_KEY")
    provider = v.get("EMBEDDING_PROVIDER", "openai" if key else "local").lower()
    mode = v.get("ANSWER_MODE", "openai" if key else "offline").lower()
    _check_choice("EMBEDDING_PROVIDER", provider, ("local", "openai"))
    _check_choice("ANSWER_MODE", mode, ("offline", "openai"))
    if "openai" in (provider, mode) and not key:
        raise ConfigError("OPENAI_API_KEY is required when EMBEDDING_PROVIDER or ANSWER_MODE is openai")
    local = provider == "local"
    default_model = LOCAL_EMBEDDING_MODEL if local else OPENAI_EMBEDDING_MODEL
    settings = Settings(
        data_dir=Path(v.get("DATA_DIR", "data")),
        database_url=v.get("DATABASE_URL"),
        openai_api_key=key,
        openai_base_url=v.get("OPENAI_BASE_URL"),
        openai_timeout_s=_number(v, "OPENAI_TIMEOUT", 30.0),
        openai_max_retries=int(_number(v, "OPENAI_MAX_RETRIES", 2)),
        embedding_provider=provider,
        embedding_model=v.get("EMBEDDING_MODEL", default_model),
        embedding_batch_size=int(_number(v, "EMBEDDING_BATCH_SIZE", 64)),
        answer_mode=mode,
        chat_model=v.get("CHAT_MODEL", "gpt-4o"),
        chat_temperature=_number(v, "CHAT_TEMPERATURE", 0.3),
        chat_max_tokens=int(_number(v, "CHAT_MAX_TOKENS", 700)),
        knowledge_base=v.get("KNOWLEDGE_BASE", "default"),
        chunk_tokens=int(_number(v, "CHUNK_TOKENS", 200 if local else 600)),
        chunk_overlap=int(_number(v, "CHUNK_OVERLAP", 40 if local else 100)),
        top_k=int(_number(v, "TOP_K", 5)),
        retrieval_mode=v.get("RETRIEVAL_MODE", "hybrid").lower(),
        retrieval_depth=int(_number(v, "RETRIEVAL_DEPTH", 40)),
        rrf_k=int(_number(v, "RRF_K", 60)),
        dense_weight=_number(v, "DENSE_WEIGHT", 1.0),
        keyword_weight=_number(v, "KEYWORD_WEIGHT", 1.0),
        min_relevance=_number(v, "MIN_RELEVANCE", 0.4 if local else 0.3),
        history_turns=int(_number(v, "HISTORY_TURNS", 3)),
        max_upload_mb=_number(v, "MAX_UPLOAD_MB", 50.0),
        max_question_chars=int(_number(v, "MAX_QUESTION_CHARS", 2000)),
        default_user=v.get("CONSOLE_USER", _login_name()),
        prices={**DEFAULT_PRICES, **_prices(v.get("MODEL_PRICES"))},
        # Answer cache and many users (issue 7).
        answer_cache=_switch(v, "ANSWER_CACHE", True),
        answer_cache_similarity=_similarity(v.get("ANSWER_CACHE_SIMILARITY", "0.95")),
        answer_cache_ttl_hours=_number(v, "ANSWER_CACHE_TTL_HOURS", 24.0),
        db_pool_size=int(_number(v, "DB_POOL_SIZE", 10)),
        db_max_overflow=int(_number(v, "DB_MAX_OVERFLOW", 10)),
        # Hardening (issue 5)
        db_statement_timeout_s=_number(v, "DB_STATEMENT_TIMEOUT_S", 60.0),
        max_questions_per_minute=int(_number(v, "MAX_QUESTIONS_PER_MINUTE", 10)),
        max_tokens_per_day=int(_number(v, "MAX_TOKENS_PER_DAY", 200_000)),
        # Bad files (issue 5)
        parse_timeout_s=_number(v, "PARSE_TIMEOUT_S", 30.0),
        parse_memory_mb=int(_number(v, "PARSE_MEMORY_MB", 1024)),
        # Ingestion embedding throughput and retries
        embedding_concurrency=int(_number(v, "EMBEDDING_CONCURRENCY", 4)),
        embedding_requests_per_minute=_number(v, "EMBEDDING_REQUESTS_PER_MINUTE", 3000.0),
        embedding_retry_attempts=int(_number(v, "EMBEDDING_RETRY_ATTEMPTS", 5)),
        embedding_retry_wait_s=_number(v, "EMBEDDING_RETRY_WAIT", 2.0),
        # Retrieval at scale (issue 7)
        hnsw_ef_search=int(_number(v, "HNSW_EF_SEARCH", RetrievalParams.ef_search)),
        # Sign-in and roles (issue 6)
        auth_mode=v.get("AUTH_MODE", "builtin").lower(),
        oidc_role_claim=v.get("OIDC_ROLE_CLAIM"),
        login_max_failures=int(_number(v, "LOGIN_MAX_FAILURES", 5)),
        login_lockout_s=_number(v, "LOGIN_LOCKOUT_SECONDS", 300.0),
    )
    _validate(settings)
    return settings


def _validate(s: Settings) -> None:
    if not 0 <= s.chunk_overlap < s.chunk_tokens:
        raise ConfigError("CHUNK_OVERLAP must be at least 0 and smaller than CHUNK_TOKENS")
    if s.chunk_tokens < 20:
        raise ConfigError("CHUNK_TOKENS must be at least 20")
    if s.top_k < 1 or s.embedding_batch_size < 1 or s.history_turns < 0:
        raise ConfigError("TOP_K and EMBEDDING_BATCH_SIZE must be positive, HISTORY_TURNS not negative")
    _check_choice("RETRIEVAL_MODE", s.retrieval_mode, ("dense", "keyword", "hybrid"))
    if s.retrieval_depth < s.top_k:
        raise ConfigError("RETRIEVAL_DEPTH must be at least TOP_K")
    if s.max_upload_mb <= 0:
        raise ConfigError("MAX_UPLOAD_MB must be positive")
    if s.answer_cache_ttl_hours <= 0:
        raise ConfigError("ANSWER_CACHE_TTL_HOURS must be positive")
    if s.db_pool_size < 1 or s.db_max_overflow < 0:
        raise ConfigError("DB_POOL_SIZE must be at least 1 and DB_MAX_OVERFLOW not negative")
    if min(s.db_statement_timeout_s, s.max_questions_per_minute, s.max_tokens_per_day) < 0:
        raise ConfigError(
            "DB_STATEMENT_TIMEOUT_S, MAX_QUESTIONS_PER_MINUTE and MAX_TOKENS_PER_DAY cannot be negative"
        )
    if s.parse_timeout_s <= 0 or s.parse_memory_mb < 32:
        raise ConfigError("PARSE_TIMEOUT_S must be positive and PARSE_MEMORY_MB at least 32")
    _validate_ingestion_embedding(s)


def _validate_ingestion_embedding(s: Settings) -> None:
    if s.embedding_concurrency < 1 or s.embedding_retry_attempts < 1:
        raise ConfigError("EMBEDDING_CONCURRENCY and EMBEDDING_RETRY_ATTEMPTS must be at least 1")
    if s.embedding_requests_per_minute < 0 or s.embedding_retry_wait_s < 0:
        raise ConfigError("EMBEDDING_REQUESTS_PER_MINUTE and EMBEDDING_RETRY_WAIT must not be negative")
    # Retrieval at scale (issue 7)
    if not 1 <= s.hnsw_ef_search <= 1000:
        raise ConfigError("HNSW_EF_SEARCH must be between 1 and 1000 (pgvector's range)")
    _check_choice("AUTH_MODE", s.auth_mode, ("builtin", "oidc", "off"))
    if s.login_max_failures < 1 or s.login_lockout_s < 0:
        raise ConfigError("LOGIN_MAX_FAILURES must be positive and LOGIN_LOCKOUT_SECONDS not negative")


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, not {value!r}")


def _number(v: Mapping[str, str], name: str, default: float) -> float:
    raw = v.get(name)
    if raw is None:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {raw!r}") from None


def _switch(v: Mapping[str, str], name: str, default: bool) -> bool:
    raw = v.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in ("on", "true", "yes", "1"):
        return True
    if value in ("off", "false", "no", "0"):
        return False
    raise ConfigError(f"{name} must be on or off, not {raw!r}")


def _similarity(raw: str) -> float | None:
    """ANSWER_CACHE_SIMILARITY: a cosine threshold from 0.8 to 1, or off (exact matches only)."""
    if raw.strip().lower() == "off":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"ANSWER_CACHE_SIMILARITY must be a number or off, not {raw!r}") from None
    # Below about 0.8, different questions share answers: a wrong answer is worse than a slow one.
    if not 0.8 <= value <= 1.0:
        raise ConfigError("ANSWER_CACHE_SIMILARITY must be between 0.8 and 1, or off")
    return value


def _prices(raw: str | None) -> dict[str, Price]:
    """MODEL_PRICES is JSON: {"model": [input, output]} in dollars per million tokens."""
    if not raw:
        return {}
    try:
        table = json.loads(raw)
        return {str(m): Price(float(p[0]), float(p[1]) if len(p) > 1 else 0.0) for m, p in table.items()}
    except (ValueError, TypeError, AttributeError, IndexError, KeyError):
        raise ConfigError('MODEL_PRICES must be JSON like {"gpt-4o": [2.5, 10.0]}') from None


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "local user"
