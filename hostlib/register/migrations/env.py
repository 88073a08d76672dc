"""Alembic's environment for the register's migrations: run by hostlib.register.db.upgrade
on the connection it gives (config.attributes["connection"]), on SQLite and PostgreSQL alike.
Batch mode on SQLite: its ALTER TABLE cannot change a column, so a later migration's change
is made by copying the table, as Alembic's batch operations do."""

from alembic import context

from hostlib.register.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise SystemExit("run the register's migrations with poskit register upgrade")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    transaction_per_migration=True,
)
with context.begin_transaction():
    context.run_migrations()
