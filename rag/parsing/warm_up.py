"""A tiny file of each kind, parsed once by the parse worker before it forks any child.

The first parse of a kind imports modules lazily and fills caches (pypdf's codecs and fonts);
done once in the worker, every forked child starts with them in place.
"""

from __future__ import annotations

import contextlib
import io

import docx

from rag.errors import RejectedFile
from rag.parsing.dispatch import parse_document


def warm_up() -> None:
    out = io.BytesIO()
    docx.Document().save(out)
    samples = {
        "warm-up.pdf": _tiny_pdf(),
        "warm-up.docx": out.getvalue(),
        "warm-up.html": b"<h1>Warm</h1><p>up</p>",
        "warm-up.csv": b"a,b\n1,2\n",
        "warm-up.md": b"# Warm\n\nup",
    }
    for name, data in samples.items():
        with contextlib.suppress(RejectedFile):
            parse_document(name, data)


def _tiny_pdf() -> bytes:
    stream = b"BT /F1 12 Tf 72 720 Td (Warm up) Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    pdf = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(pdf))
        pdf += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(pdf)
    pdf += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    pdf += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    pdf += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(pdf)
