"""The library: knowledge bases, their documents and chunks, and the vector index over them.

In: a parsed, chunked and embedded document. Out: one document row and all its chunks, stored in
one transaction (chunks by binary COPY) or not at all; a new version of a file name replaces the
old atomically. A knowledge base is bound to the embedding model that built it and has its own
partial HNSW index. Readers list, count and delete documents; the content lock lets one upload
of the same bytes run at a time.
"""

from rag.library.content_lock import content_lock
from rag.library.documents import (
    DocumentSummary,
    NewDocument,
    StoredDocument,
    delete_document,
    document_count,
    find_by_hash,
    list_documents,
    store_document,
)
from rag.library.indexes import INDEX_TYPE, IndexType, ensure_vector_index, vector_index
from rag.library.knowledge_bases import KnowledgeBaseRef, knowledge_base_names, open_knowledge_base

__all__ = [
    "INDEX_TYPE",
    "DocumentSummary",
    "IndexType",
    "KnowledgeBaseRef",
    "NewDocument",
    "StoredDocument",
    "content_lock",
    "delete_document",
    "document_count",
    "ensure_vector_index",
    "find_by_hash",
    "knowledge_base_names",
    "list_documents",
    "open_knowledge_base",
    "store_document",
    "vector_index",
]
