"""The one-time setup code that guards the first-run form, stored as a hash

Revision ID: 0016_setup_code
Revises: 0015_current_version_unique
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_setup_code"
down_revision: str | None = "0015_current_version_unique"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "setup_code",
        sa.Column("id", sa.SmallInteger(), primary_key=True, autoincrement=False),
        sa.Column("code_hash", sa.String(64), nullable=False),  # sha256 of the code
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_setup_code_one_row"),  # one code at a time
    )


def downgrade() -> None:
    op.drop_table("setup_code")
