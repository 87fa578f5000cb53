"""Persistence: SQLAlchemy 2.0 Core tables, Alembic migrations, repository functions.

Repository functions take the session first and keyword-only arguments after it; they
never commit. The caller owns the transaction.
"""
