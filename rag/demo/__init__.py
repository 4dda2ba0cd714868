"""Demo traffic for the analytics pages: realistic, seeded, and labelled so that it can be removed.

Every row written is marked: answers and model calls carry `is_demo`, demo conversations belong
to users named "demo:..." and have titles starting "[demo] ", feedback only rates demo answers.
Rows are simulated in batches with numpy and written with COPY, so 100,000 answers take seconds.
"""

from rag.demo.generate import DemoSummary, RemovedRows, generate_demo_data, remove_demo_data
from rag.demo.templates import AGENTS, DEMO_TITLE_PREFIX, DEMO_USER_PREFIX, TEMPLATES, Template

__all__ = [
    "AGENTS",
    "DEMO_TITLE_PREFIX",
    "DEMO_USER_PREFIX",
    "TEMPLATES",
    "DemoSummary",
    "RemovedRows",
    "Template",
    "generate_demo_data",
    "remove_demo_data",
]
