"""`python -m rag`: the command line, on the same functions the app calls.

In: argv. Out: an exit code (0 done, 1 failed, 2 refused) and text or JSON on stdout. Subcommands:
ingest, ask, documents, eval, demo-data, users, setup-code.
"""

from rag.cli.commands import main

__all__ = ["main"]
