from __future__ import annotations

from pathlib import Path

import pytest

from rag.errors import ConfigError
from rag.settings import load_settings
from rag.usage.pricing import Price


def test_defaults_are_embedded_local_and_offline() -> None:
    s = load_settings({}, secrets_file=None)
    assert s.embedded_database and s.data_dir == Path("data")
    assert (s.embedding_provider, s.embedding_model, s.answer_mode) == (
        "local",
        "all-MiniLM-L6-v2",
        "offline",
    )
    assert (s.chunk_tokens, s.chunk_overlap) == (200, 40)  # MiniLM reads 256 word pieces


def test_an_api_key_switches_to_openai_with_openai_sized_chunks() -> None:
    s = load_settings({"OPENAI_API_KEY": "sk-secret"}, secrets_file=None)
    assert (s.embedding_provider, s.embedding_model) == ("openai", "text-embedding-3-small")
    assert (s.answer_mode, s.chat_model, s.chat_temperature) == ("openai", "gpt-4o", 0.3)
    assert (s.chunk_tokens, s.chunk_overlap) == (600, 100)
    assert "sk-secret" not in repr(s)


def test_secrets_file_feeds_settings_and_the_environment_wins(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('CHAT_MODEL = "gpt-4o-mini"\nTOP_K = 8\nDATA_DIR = "/srv/kc"\n')
    s = load_settings({"TOP_K": "3"}, secrets_file=secrets)
    assert (s.chat_model, s.top_k, s.data_dir) == ("gpt-4o-mini", 3, Path("/srv/kc"))


def test_price_table_can_be_extended() -> None:
    s = load_settings({"MODEL_PRICES": '{"llama3": [0, 0], "gpt-4o": [5, 15]}'}, secrets_file=None)
    assert s.prices["llama3"] == Price(0, 0)
    assert s.prices["gpt-4o"] == Price(5, 15)
    assert s.prices["text-embedding-3-small"] == Price(0.02)


def test_hnsw_ef_search_reaches_the_retrieval_params() -> None:
    by_size = load_settings({}, secrets_file=None).retrieval
    assert by_size.ef_search is None  # bench/retrieval.py's picks, by the knowledge base's size
    assert (by_size.ef_search_for(45), by_size.ef_search_for(100_000), by_size.ef_search_for(1_000_000)) == (
        128,
        128,
        600,
    )
    assert (
        load_settings({"HNSW_EF_SEARCH": "200"}, secrets_file=None).retrieval.ef_search_for(1_000_000) == 200
    )
    assert load_settings({"HNSW_EF_SEARCH": "200"}, secrets_file=None).retrieval.ef_search == 200


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TOP_K": "many"}, "TOP_K must be a number"),
        ({"ANSWER_MODE": "magic"}, "ANSWER_MODE must be one of"),
        ({"ANSWER_MODE": "openai"}, "OPENAI_API_KEY is required"),
        ({"CHUNK_TOKENS": "100", "CHUNK_OVERLAP": "100"}, "CHUNK_OVERLAP must be"),
        ({"MODEL_PRICES": "[1, 2]"}, "MODEL_PRICES must be JSON"),
        ({"MAX_UPLOAD_MB": "0"}, "MAX_UPLOAD_MB must be positive"),
        ({"HNSW_EF_SEARCH": "0"}, "HNSW_EF_SEARCH must be between 1 and 1000"),
    ],
)
def test_bad_settings_are_refused_clearly(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(env, secrets_file=None)


def test_broken_secrets_file_is_reported(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.toml"
    secrets.write_text("OPENAI_API_KEY = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings({}, secrets_file=secrets)


def test_parse_bounds_are_read_and_checked() -> None:
    s = load_settings({"PARSE_TIMEOUT_S": "2.5", "PARSE_MEMORY_MB": "256"}, secrets_file=None)
    assert (s.parse_timeout_s, s.parse_memory_mb) == (2.5, 256)
    for env in ({"PARSE_TIMEOUT_S": "0"}, {"PARSE_MEMORY_MB": "16"}):
        with pytest.raises(
            ConfigError, match="PARSE_TIMEOUT_S must be positive and PARSE_MEMORY_MB at least 32"
        ):
            load_settings(env, secrets_file=None)
