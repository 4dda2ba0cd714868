"""An answer's confidence: the relevance gate's verdict on the evidence it was built from

Revision ID: 0013_answer_confidence
Revises: 0012_rollups_documents_people
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_answer_confidence"
down_revision: str | None = "0012_rollups_documents_people"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("answers", sa.Column("confidence", sa.String(10), nullable=True))


def downgrade() -> None:
    op.drop_column("answers", "confidence")
