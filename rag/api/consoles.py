"""The API process's consoles, one per knowledge base a key may ask (opened on first use).

They share the process's one Console: its pool, models and rate limits; only the knowledge base
differs. Like the app's cached console, this is a resource cache, not anyone's state.
"""

from __future__ import annotations

import threading
from dataclasses import replace

import sqlalchemy as sa

from db.models import KnowledgeBase
from rag.api.errors import ApiError
from rag.console import Console
from rag.library.knowledge_bases import open_knowledge_base


class Consoles:
    def __init__(self, console: Console) -> None:
        self.base = console
        self._by_name: dict[str, Console] = {console.kb.name: console}
        self._lock = threading.Lock()

    def for_knowledge_base(self, name: str) -> Console:
        with self._lock:
            found = self._by_name.get(name)
            if found is None:
                found = self._open(name)
                self._by_name[name] = found
            return found

    def _open(self, name: str) -> Console:
        with self.base.engine.connect() as conn:
            exists = conn.execute(sa.select(KnowledgeBase.id).where(KnowledgeBase.name == name)).first()
        if exists is None:
            raise ApiError(404, f"The knowledge base {name!r} does not exist.", type_="invalid_request_error")
        return replace(self.base, kb=open_knowledge_base(self.base.engine, name, self.base.embedder))
