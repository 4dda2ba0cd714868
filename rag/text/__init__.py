"""Pure text, no database: tiktoken tokens, sentence boundaries, and chunk windows.

In: the text sections a parser produced. Out: `Chunk`s of at most `max_tokens` tokens that end on
sentence boundaries where they can, overlapping by `overlap` tokens, each with its page or heading.
Also text made safe for where it is shown: Markdown that renders literally, CSV without formulas,
chart labels without HTML.
"""

from rag.text.chart_labels import chart_label, chart_labels
from rag.text.chunking import Chunk, chunk_sections, joined_text
from rag.text.literal_markdown import escape_markdown
from rag.text.sentences import sentence_starts, split_sentences
from rag.text.spreadsheet import csv_bytes
from rag.text.time_zones import zone_named
from rag.text.tokens import count_tokens, encoding

__all__ = [
    "Chunk",
    "chart_label",
    "chart_labels",
    "chunk_sections",
    "count_tokens",
    "csv_bytes",
    "encoding",
    "escape_markdown",
    "joined_text",
    "sentence_starts",
    "split_sentences",
    "zone_named",
]
