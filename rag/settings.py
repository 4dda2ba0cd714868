"""All settings in one place: environment first, then `.streamlit/secrets.toml`, then defaults.

The app, the CLI and the tests build settings the same way, so a value set in either source
means the same everywhere. Defaults are embedded and offline.

Each field of `Settings` declares its environment variable, how its text is read and its
default, once; `load_settings` reads every field the same way, then checks how they combine.
"""

from __future__ import annotations

import getpass
import json
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, get_args

from rag.errors import ConfigError
from rag.providers.factory import DEFAULT_EMBEDDING_MODEL, AnswerMode, EmbeddingProvider
from rag.retrieval.params import RetrievalMode, RetrievalParams
from rag.usage.pricing import DEFAULT_PRICES, Price

SECRETS_FILE = Path(".streamlit/secrets.toml")

AuthMode = Literal["builtin", "oidc", "off"]  # off: everyone is CONSOLE_USER, a manager (a local trial)
Reader = Callable[[str, str], Any]  # (variable name, its text) -> the value, or ConfigError


@dataclass(frozen=True)
class _EnvVar:
    name: str
    read: Reader
    with_api_key: Any = MISSING  # the default instead when OPENAI_API_KEY is set
    openai: Any = MISSING  # the default instead when EMBEDDING_PROVIDER is openai


def _env(
    name: str, read: Reader, *, with_api_key: Any = MISSING, openai: Any = MISSING
) -> dict[str, _EnvVar]:
    """A field's metadata: where the setting comes from and how it is read."""
    return {"env": _EnvVar(name, read, with_api_key, openai)}


def _text(_name: str, raw: str) -> str:
    return raw


def _path(_name: str, raw: str) -> Path:
    return Path(raw)


def _number(name: str, raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {raw!r}") from None


def _whole(name: str, raw: str) -> int:
    return int(_number(name, raw))


def _switch(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("on", "true", "yes", "1"):
        return True
    if value in ("off", "false", "no", "0"):
        return False
    raise ConfigError(f"{name} must be on or off, not {raw!r}")


def _one_of(kind: Any) -> Reader:
    """A reader for a `Literal` kind: case-insensitive, one of its values."""
    choices: tuple[str, ...] = get_args(kind)

    def read(name: str, raw: str) -> str:
        value = raw.lower()
        if value not in choices:
            raise ConfigError(f"{name} must be one of {', '.join(choices)}, not {value!r}")
        return value

    return read


def _similarity(name: str, raw: str) -> float | None:
    """A cosine threshold from 0.8 to 1, or off (exact matches only)."""
    if raw.strip().lower() == "off":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number or off, not {raw!r}") from None
    # Below about 0.8, different questions share answers: a wrong answer is worse than a slow one.
    if not 0.8 <= value <= 1.0:
        raise ConfigError(f"{name} must be between 0.8 and 1, or off")
    return value


def _prices(name: str, raw: str) -> dict[str, Price]:
    """JSON: {"model": [input, output]} in dollars per million tokens, over the built-in table."""
    try:
        table = json.loads(raw)
        extra = {str(m): Price(float(p[0]), float(p[1]) if len(p) > 1 else 0.0) for m, p in table.items()}
    except (ValueError, TypeError, AttributeError, IndexError, KeyError):
        raise ConfigError(f'{name} must be JSON like {{"gpt-4o": [2.5, 10.0]}}') from None
    return {**DEFAULT_PRICES, **extra}


def _paths(_name: str, raw: str) -> tuple[Path, ...]:
    return tuple(Path(part).expanduser().resolve() for part in raw.split(os.pathsep) if part.strip())


def _words(_name: str, raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.replace(",", " ").split() if part.strip())


def _cron(name: str, raw: str) -> str | None:
    if raw.strip().lower() == "off":
        return None
    from croniter import croniter  # procrastinate's own cron parser

    if not croniter.is_valid(raw):
        raise ConfigError(f'{name} must be a cron schedule like "0 * * * *" or off, not {raw!r}')
    return raw.strip()


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "local user"


@dataclass(frozen=True)
class Settings:
    # Where the data lives: without DATABASE_URL, an embedded PostgreSQL under DATA_DIR.
    data_dir: Path = field(default=Path("data"), metadata=_env("DATA_DIR", _path))
    database_url: str | None = field(default=None, metadata=_env("DATABASE_URL", _text))
    # The OpenAI API or a server that speaks it; a key makes it the default for both models.
    openai_api_key: str | None = field(default=None, repr=False, metadata=_env("OPENAI_API_KEY", _text))
    openai_base_url: str | None = field(default=None, metadata=_env("OPENAI_BASE_URL", _text))
    openai_timeout_s: float = field(default=30.0, metadata=_env("OPENAI_TIMEOUT", _number))
    openai_max_retries: int = field(default=2, metadata=_env("OPENAI_MAX_RETRIES", _whole))
    # Embedding, and chunks sized to what the model reads (MiniLM: 256 word pieces).
    embedding_provider: EmbeddingProvider = field(
        default="local",
        metadata=_env("EMBEDDING_PROVIDER", _one_of(EmbeddingProvider), with_api_key="openai"),
    )
    embedding_model: str = field(
        default=DEFAULT_EMBEDDING_MODEL["local"],
        metadata=_env("EMBEDDING_MODEL", _text, openai=DEFAULT_EMBEDDING_MODEL["openai"]),
    )
    embedding_batch_size: int = field(default=64, metadata=_env("EMBEDDING_BATCH_SIZE", _whole))
    chunk_tokens: int = field(default=200, metadata=_env("CHUNK_TOKENS", _whole, openai=600))
    chunk_overlap: int = field(default=40, metadata=_env("CHUNK_OVERLAP", _whole, openai=100))
    # Answering: the offline extractive answerer, or a chat model.
    answer_mode: AnswerMode = field(
        default="offline", metadata=_env("ANSWER_MODE", _one_of(AnswerMode), with_api_key="openai")
    )
    chat_model: str = field(default="gpt-4o", metadata=_env("CHAT_MODEL", _text))
    chat_temperature: float = field(default=0.3, metadata=_env("CHAT_TEMPERATURE", _number))
    chat_max_tokens: int = field(default=700, metadata=_env("CHAT_MAX_TOKENS", _whole))
    history_turns: int = field(default=3, metadata=_env("HISTORY_TURNS", _whole))
    knowledge_base: str = field(default="default", metadata=_env("KNOWLEDGE_BASE", _text))
    # Retrieval: which legs, how deep, how their ranks are fused; then the relevance gate.
    top_k: int = field(default=5, metadata=_env("TOP_K", _whole))
    retrieval_mode: RetrievalMode = field(
        default="hybrid", metadata=_env("RETRIEVAL_MODE", _one_of(RetrievalMode))
    )
    retrieval_depth: int = field(default=40, metadata=_env("RETRIEVAL_DEPTH", _whole))
    rrf_k: int = field(default=10, metadata=_env("RRF_K", _whole))  # RetrievalParams.rrf_k
    dense_weight: float = field(default=1.0, metadata=_env("DENSE_WEIGHT", _number))
    keyword_weight: float = field(default=1.0, metadata=_env("KEYWORD_WEIGHT", _number))
    # Unset: by the knowledge base's size (RetrievalParams.ef_search_for); set: that value at any size.
    hnsw_ef_search: int | None = field(default=None, metadata=_env("HNSW_EF_SEARCH", _whole))
    # The relevance gate (rag/answer/gate.py): cosine similarity for strong evidence, for weak
    # evidence (an answer marked low confidence; unset: 3/4 of MIN_RELEVANCE), and the share of the
    # question's word weight (idf) one passage must hold to count as strong on its words alone.
    min_relevance: float = field(default=0.4, metadata=_env("MIN_RELEVANCE", _number, openai=0.3))
    low_relevance: float | None = field(default=None, metadata=_env("LOW_RELEVANCE", _number))
    min_keyword_coverage: float = field(default=0.6, metadata=_env("MIN_KEYWORD_COVERAGE", _number))
    # What one person may send, and who they are when nobody signs in.
    max_upload_mb: float = field(default=50.0, metadata=_env("MAX_UPLOAD_MB", _number))
    max_question_chars: int = field(default=2000, metadata=_env("MAX_QUESTION_CHARS", _whole))
    default_user: str = field(default_factory=_login_name, metadata=_env("CONSOLE_USER", _text))
    prices: dict[str, Price] = field(
        default_factory=lambda: dict(DEFAULT_PRICES), metadata=_env("MODEL_PRICES", _prices)
    )
    # Many users at once: answers cached by question, a pool of database connections.
    answer_cache: bool = field(default=True, metadata=_env("ANSWER_CACHE", _switch))
    answer_cache_similarity: float | None = field(
        default=0.95, metadata=_env("ANSWER_CACHE_SIMILARITY", _similarity)
    )
    answer_cache_ttl_hours: float = field(default=24.0, metadata=_env("ANSWER_CACHE_TTL_HOURS", _number))
    # Curated answers (rag/answer/curated.py) are given to questions this similar (cosine), or off.
    curated_similarity: float | None = field(default=0.9, metadata=_env("CURATED_SIMILARITY", _similarity))
    # The gap loop (rag/analytics/gap_loop.py): how often a worker looks for new documents (cron, or
    # off), re-asking the open groups of the last GAP_LOOP_DAYS days, at most GAP_LOOP_MAX_REASKS a run.
    gap_loop_schedule: str | None = field(default="* * * * * 45", metadata=_env("GAP_LOOP_SCHEDULE", _cron))
    gap_loop_days: int = field(default=30, metadata=_env("GAP_LOOP_DAYS", _whole))
    gap_loop_max_reasks: int = field(default=25, metadata=_env("GAP_LOOP_MAX_REASKS", _whole))
    db_pool_size: int = field(default=10, metadata=_env("DB_POOL_SIZE", _whole))
    db_max_overflow: int = field(default=10, metadata=_env("DB_MAX_OVERFLOW", _whole))
    # Bounded database statements and per-user limits; 0 turns one off.
    db_statement_timeout_s: float = field(default=60.0, metadata=_env("DB_STATEMENT_TIMEOUT_S", _number))
    max_questions_per_minute: int = field(default=10, metadata=_env("MAX_QUESTIONS_PER_MINUTE", _whole))
    max_tokens_per_day: int = field(default=200_000, metadata=_env("MAX_TOKENS_PER_DAY", _whole))
    # An answer still in progress after this long lost its process: a worker's sweep closes it as
    # interrupted (it looks every 10 s). Longer than any answer can stream (OPENAI_TIMEOUT, retries).
    answer_abandoned_after_s: float = field(default=600.0, metadata=_env("ANSWER_ABANDONED_AFTER_S", _number))
    # Each upload is parsed in a child process under these bounds.
    parse_timeout_s: float = field(default=30.0, metadata=_env("PARSE_TIMEOUT_S", _number))
    parse_memory_mb: int = field(default=1024, metadata=_env("PARSE_MEMORY_MB", _whole))
    # Ingestion's embedding calls: how many in flight, how fast, and retries longer than chat's.
    embedding_concurrency: int = field(default=4, metadata=_env("EMBEDDING_CONCURRENCY", _whole))
    embedding_requests_per_minute: float = field(
        default=3000.0, metadata=_env("EMBEDDING_REQUESTS_PER_MINUTE", _number)
    )
    embedding_retry_attempts: int = field(default=5, metadata=_env("EMBEDDING_RETRY_ATTEMPTS", _whole))
    embedding_retry_wait_s: float = field(default=2.0, metadata=_env("EMBEDDING_RETRY_WAIT", _number))
    # Background workers (python -m rag worker): jobs at once per worker, and when a silent worker
    # counts as dead so that its job goes to another.
    worker_concurrency: int = field(default=2, metadata=_env("WORKER_CONCURRENCY", _whole))
    # Niceness of a worker: answers on the same machine keep their speed (bench/ingest_vs_ask.py).
    worker_nice: int = field(default=10, metadata=_env("WORKER_NICE", _whole))
    worker_heartbeat_s: float = field(default=10.0, metadata=_env("WORKER_HEARTBEAT_S", _number))
    worker_stalled_after_s: float = field(default=30.0, metadata=_env("WORKER_STALLED_AFTER_S", _number))
    # Server folders a knowledge manager may sync from the Documents page (python -m rag sync takes
    # any), separated like PATH; and how often a worker syncs them (cron, e.g. "0 * * * *"), if at all.
    sync_folders: tuple[Path, ...] = field(default=(), metadata=_env("SYNC_FOLDERS", _paths))
    sync_schedule: str | None = field(default=None, metadata=_env("SYNC_SCHEDULE", _cron))
    # The HTTP API (python -m rag api): where it listens, and the web pages (origins) whose
    # widget may call it from the browser; "*" allows any (each call still needs a key).
    api_host: str = field(default="127.0.0.1", metadata=_env("API_HOST", _text))
    api_port: int = field(default=8502, metadata=_env("API_PORT", _whole))
    api_cors_origins: tuple[str, ...] = field(default=("*",), metadata=_env("API_CORS_ORIGINS", _words))
    # Sign-in: builtin accounts, OIDC through st.login, or off.
    auth_mode: AuthMode = field(default="builtin", metadata=_env("AUTH_MODE", _one_of(AuthMode)))
    oidc_role_claim: str | None = field(default=None, metadata=_env("OIDC_ROLE_CLAIM", _text))
    # Refuse an OIDC sign-in unless the provider says the email is verified (`email_verified`).
    oidc_require_verified_email: bool = field(
        default=True, metadata=_env("OIDC_REQUIRE_VERIFIED_EMAIL", _switch)
    )
    login_max_failures: int = field(default=5, metadata=_env("LOGIN_MAX_FAILURES", _whole))
    login_lockout_s: float = field(default=300.0, metadata=_env("LOGIN_LOCKOUT_SECONDS", _number))
    # Failures from one client address (any accounts) before it is refused for a while; 0: no limit.
    login_address_max_failures: int = field(default=20, metadata=_env("LOGIN_ADDRESS_MAX_FAILURES", _whole))
    login_address_window_s: float = field(
        default=900.0, metadata=_env("LOGIN_ADDRESS_WINDOW_SECONDS", _number)
    )
    # Behind a trusted proxy: the header naming the client (e.g. X-Forwarded-For, its first address).
    client_address_header: str | None = field(default=None, metadata=_env("CLIENT_ADDRESS_HEADER", _text))
    # A built-in sign-in lasts this long after its last use, in any tab and any app process.
    session_hours: float = field(default=12.0, metadata=_env("SESSION_HOURS", _number))

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
    def weak_relevance(self) -> float:
        """The cosine of weak evidence: LOW_RELEVANCE, or three quarters of MIN_RELEVANCE."""
        return self.low_relevance if self.low_relevance is not None else self.min_relevance * 0.75

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)


def load_settings(env: Mapping[str, str] | None = None, secrets_file: Path | None = SECRETS_FILE) -> Settings:
    """Build and validate the settings from `env` (default: the process environment)."""
    values = _read_secrets(secrets_file)
    values.update({k: v for k, v in (os.environ if env is None else env).items() if v != ""})
    settings = _read(values)
    _validate(settings)
    return settings


def _read_secrets(path: Path | None) -> dict[str, str]:
    if path is None or not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    return {k: str(v) for k, v in data.items() if isinstance(v, str | int | float | bool)}


def _read(values: Mapping[str, str]) -> Settings:
    read: dict[str, Any] = {}  # in field order: a default may depend on a field above it
    for f in fields(Settings):
        var: _EnvVar = f.metadata["env"]
        raw = values.get(var.name)
        read[f.name] = _default(f, var, read) if raw is None else var.read(var.name, raw)
    return Settings(**read)


def _default(f: Field[Any], var: _EnvVar, read: Mapping[str, Any]) -> Any:
    if var.with_api_key is not MISSING and read["openai_api_key"]:
        return var.with_api_key
    if var.openai is not MISSING and read["embedding_provider"] == "openai":
        return var.openai
    if f.default_factory is not MISSING:
        return f.default_factory()
    return f.default


def _validate(s: Settings) -> None:
    if "openai" in (s.embedding_provider, s.answer_mode) and not s.openai_api_key:
        raise ConfigError("OPENAI_API_KEY is required when EMBEDDING_PROVIDER or ANSWER_MODE is openai")
    if not 0 <= s.chunk_overlap < s.chunk_tokens:
        raise ConfigError("CHUNK_OVERLAP must be at least 0 and smaller than CHUNK_TOKENS")
    if s.chunk_tokens < 20:
        raise ConfigError("CHUNK_TOKENS must be at least 20")
    if s.top_k < 1 or s.embedding_batch_size < 1 or s.history_turns < 0:
        raise ConfigError("TOP_K and EMBEDDING_BATCH_SIZE must be positive, HISTORY_TURNS not negative")
    if s.retrieval_depth < s.top_k:
        raise ConfigError("RETRIEVAL_DEPTH must be at least TOP_K")
    if s.hnsw_ef_search is not None and not 1 <= s.hnsw_ef_search <= 1000:
        raise ConfigError("HNSW_EF_SEARCH must be between 1 and 1000 (pgvector's range)")
    if s.max_upload_mb <= 0:
        raise ConfigError("MAX_UPLOAD_MB must be positive")
    if s.weak_relevance > s.min_relevance or not 0 < s.min_keyword_coverage <= 1:
        raise ConfigError("LOW_RELEVANCE must not exceed MIN_RELEVANCE; MIN_KEYWORD_COVERAGE is in (0, 1]")
    if s.gap_loop_days < 1 or s.gap_loop_max_reasks < 1:
        raise ConfigError("GAP_LOOP_DAYS and GAP_LOOP_MAX_REASKS must be at least 1")
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
    if s.embedding_concurrency < 1 or s.embedding_retry_attempts < 1:
        raise ConfigError("EMBEDDING_CONCURRENCY and EMBEDDING_RETRY_ATTEMPTS must be at least 1")
    if s.embedding_requests_per_minute < 0 or s.embedding_retry_wait_s < 0:
        raise ConfigError("EMBEDDING_REQUESTS_PER_MINUTE and EMBEDDING_RETRY_WAIT must not be negative")
    if s.answer_abandoned_after_s <= 0:
        raise ConfigError("ANSWER_ABANDONED_AFTER_S must be positive")
    if s.worker_concurrency < 1 or s.worker_heartbeat_s <= 0:
        raise ConfigError("WORKER_CONCURRENCY must be at least 1 and WORKER_HEARTBEAT_S positive")
    if not 0 <= s.worker_nice <= 19:
        raise ConfigError("WORKER_NICE must be between 0 and 19")
    if s.worker_stalled_after_s <= s.worker_heartbeat_s:
        raise ConfigError("WORKER_STALLED_AFTER_S must be longer than WORKER_HEARTBEAT_S")
    if s.login_max_failures < 1 or s.login_lockout_s < 0:
        raise ConfigError("LOGIN_MAX_FAILURES must be positive and LOGIN_LOCKOUT_SECONDS not negative")
    if s.login_address_max_failures < 0 or s.login_address_window_s <= 0:
        raise ConfigError(
            "LOGIN_ADDRESS_MAX_FAILURES must not be negative and LOGIN_ADDRESS_WINDOW_SECONDS positive"
        )
    if s.session_hours <= 0:
        raise ConfigError("SESSION_HOURS must be positive")
