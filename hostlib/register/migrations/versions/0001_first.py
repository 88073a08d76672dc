"""The register's first schema: users, merchants and their documents and reviews, acquirer
profiles, work orders, terminals and their applications, installs, trainings, maintenance
visits, and the audit trail.

Revision ID: 0001
Revises: (none: an empty database)
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "profiles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("toml", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_profiles")),
        sa.UniqueConstraint("name", name=op.f("uq_profiles_name")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("staff_id", sa.String(length=32), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "role IN ('salesperson', 'reviewer', 'installer', 'admin')", name=op.f("ck_users_role")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("username", sa.String(length=32), nullable=False),
        sa.Column("table_name", sa.String(length=32), nullable=False),
        sa.Column("row_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.CheckConstraint(
            "action IN ('insert', 'update', 'delete')", name=op.f("ck_audit_action")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_audit_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit")),
    )
    op.create_index(op.f("ix_audit_row"), "audit", ["table_name", "row_id"], unique=False)

    op.create_table(
        "merchants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contract_no", sa.String(length=32), nullable=False),
        sa.Column("company_name", sa.String(length=100), nullable=False),
        sa.Column("slip_name", sa.String(length=40), nullable=False),
        sa.Column("address", sa.String(length=200), nullable=False),
        sa.Column("contact", sa.String(length=50), nullable=False),
        sa.Column("phone", sa.String(length=24), nullable=False),
        sa.Column("terminal_price", sa.Integer(), nullable=False),
        sa.Column("fee_rate", sa.Numeric(precision=6, scale=3), nullable=False),
        sa.Column("install_location", sa.String(length=200), nullable=False),
        sa.Column("install_date", sa.Date(), nullable=True),
        sa.Column("remarks", sa.Text(), nullable=False),
        sa.Column("salesperson_id", sa.Integer(), nullable=False),
        sa.Column("signing_date", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("referrer_id", sa.Integer(), nullable=True),
        sa.Column("mid", sa.String(length=15), nullable=True),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "(channel = 'referral') = (referrer_id IS NOT NULL)",
            name=op.f("ck_merchants_referrer_iff_referral"),
        ),
        sa.CheckConstraint(
            "channel IN ('online', 'phone_list', 'cold_visit', 'referral')",
            name=op.f("ck_merchants_channel"),
        ),
        sa.CheckConstraint(
            "stage IN ('applied', 'phone_checked', 'site_checked', 'submitted', "
            "'approved', 'declined', 'work_order', 'installed', 'trained')",
            name=op.f("ck_merchants_stage"),
        ),
        sa.CheckConstraint("fee_rate > 0 AND fee_rate <= 5", name=op.f("ck_merchants_fee_rate")),
        sa.CheckConstraint("terminal_price >= 0", name=op.f("ck_merchants_terminal_price")),
        sa.ForeignKeyConstraint(
            ["referrer_id"], ["merchants.id"], name=op.f("fk_merchants_referrer_id_merchants")
        ),
        sa.ForeignKeyConstraint(
            ["salesperson_id"], ["users.id"], name=op.f("fk_merchants_salesperson_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_merchants")),
        sa.UniqueConstraint("contract_no", name=op.f("uq_merchants_contract_no")),
        sa.UniqueConstraint("mid", name=op.f("uq_merchants_mid")),
    )
    op.create_table(
        "documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=40), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("uploaded_by", sa.Integer(), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "content_type IN ('application/pdf', 'image/jpeg', 'image/png')",
            name=op.f("ck_documents_content_type"),
        ),
        sa.CheckConstraint(
            "kind IN ('licence_copy', 'legal_id_copy', 'tax_copy', 'org_code_copy', "
            "'account_permit', 'photo_licence', 'photo_sign', 'photo_desk', "
            "'photo_premises')",
            name=op.f("ck_documents_kind"),
        ),
        sa.CheckConstraint("size > 0 AND size <= 5242880", name=op.f("ck_documents_size")),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_documents_merchant_id_merchants")
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by"], ["users.id"], name=op.f("fk_documents_uploaded_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_documents")),
    )
    op.create_index(op.f("ix_documents_merchant_id"), "documents", ["merchant_id"], unique=False)

    op.create_table(
        "reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(length=12), nullable=False),
        sa.Column("outcome", sa.String(length=100), nullable=False),
        sa.Column("findings", sa.Text(), nullable=False),
        sa.Column("party", sa.String(length=100), nullable=False),
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.Column("by_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "step IN ('phone', 'site', 'submission', 'decision')", name=op.f("ck_reviews_step")
        ),
        sa.ForeignKeyConstraint(["by_id"], ["users.id"], name=op.f("fk_reviews_by_id_users")),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_reviews_merchant_id_merchants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reviews")),
    )
    op.create_index(op.f("ix_reviews_merchant_id"), "reviews", ["merchant_id"], unique=False)

    op.create_table(
        "terminals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("serial", sa.String(length=16), nullable=False),
        sa.Column("model", sa.String(length=40), nullable=False),
        sa.Column("iccid", sa.String(length=22), nullable=False),
        sa.Column("pinpad_serial", sa.String(length=40), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_terminals_merchant_id_merchants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_terminals")),
        sa.UniqueConstraint("serial", name=op.f("uq_terminals_serial")),
    )
    op.create_index(op.f("ix_terminals_merchant_id"), "terminals", ["merchant_id"], unique=False)

    op.create_table(
        "maintenance_visits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("terminal_id", sa.Integer(), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("by_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("findings", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["by_id"], ["users.id"], name=op.f("fk_maintenance_visits_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_maintenance_visits_merchant_id_merchants"),
        ),
        sa.ForeignKeyConstraint(
            ["terminal_id"],
            ["terminals.id"],
            name=op.f("fk_maintenance_visits_terminal_id_terminals"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_maintenance_visits")),
    )
    op.create_index(
        op.f("ix_maintenance_visits_terminal_id"),
        "maintenance_visits",
        ["terminal_id"],
        unique=False,
    )

    op.create_table(
        "terminal_apps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("terminal_id", sa.Integer(), nullable=False),
        sa.Column("app_index", sa.Integer(), nullable=False),
        sa.Column("acquirer", sa.String(length=40), nullable=False),
        sa.Column("mid", sa.String(length=15), nullable=False),
        sa.Column("tid", sa.String(length=8), nullable=False),
        sa.Column("slip_name", sa.String(length=40), nullable=False),
        sa.CheckConstraint(
            "app_index >= 1 AND app_index <= 8", name=op.f("ck_terminal_apps_app_index")
        ),
        sa.ForeignKeyConstraint(
            ["terminal_id"], ["terminals.id"], name=op.f("fk_terminal_apps_terminal_id_terminals")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_terminal_apps")),
        sa.UniqueConstraint("mid", "tid", name=op.f("uq_terminal_apps_mid_tid")),
        sa.UniqueConstraint(
            "terminal_id", "app_index", name=op.f("uq_terminal_apps_terminal_id_app_index")
        ),
    )
    op.create_table(
        "work_orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("installer_id", sa.Integer(), nullable=False),
        sa.Column("appointment_at", sa.DateTime(), nullable=False),
        sa.Column("place", sa.String(length=200), nullable=False),
        sa.Column("requirements_confirmed", sa.Boolean(), nullable=False),
        sa.Column("deposit_collected", sa.Boolean(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("line", sa.String(length=10), nullable=True),
        sa.Column("outside_prefix", sa.String(length=16), nullable=False),
        sa.Column("power_position", sa.String(length=200), nullable=False),
        sa.Column("line_position", sa.String(length=200), nullable=False),
        sa.Column("signal_readings", sa.JSON(), nullable=False),
        sa.Column("chosen_spot", sa.String(length=100), nullable=False),
        sa.Column("profile_id", sa.Integer(), nullable=True),
        sa.Column("terminal_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("kind IN ('desktop', 'mobile')", name=op.f("ck_work_orders_kind")),
        sa.CheckConstraint(
            "line IS NULL OR line IN ('direct', 'extension')", name=op.f("ck_work_orders_line")
        ),
        sa.CheckConstraint(
            "status IN ('open', 'installed', 'cancelled')", name=op.f("ck_work_orders_status")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_work_orders_created_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["installer_id"], ["users.id"], name=op.f("fk_work_orders_installer_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_work_orders_merchant_id_merchants")
        ),
        sa.ForeignKeyConstraint(
            ["profile_id"], ["profiles.id"], name=op.f("fk_work_orders_profile_id_profiles")
        ),
        sa.ForeignKeyConstraint(
            ["terminal_id"], ["terminals.id"], name=op.f("fk_work_orders_terminal_id_terminals")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_orders")),
    )
    op.create_index(
        op.f("ix_work_orders_installer_id"), "work_orders", ["installer_id"], unique=False
    )
    op.create_index(
        op.f("ix_work_orders_merchant_id"), "work_orders", ["merchant_id"], unique=False
    )

    op.create_table(
        "installs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("work_order_id", sa.Integer(), nullable=False),
        sa.Column("terminal_id", sa.Integer(), nullable=False),
        sa.Column("installer_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("outcome", sa.String(length=8), nullable=False),
        sa.Column("record_json", sa.Text(), nullable=False),
        sa.Column("record_html", sa.Text(), nullable=False),
        sa.Column("slips", sa.Text(), nullable=False),
        sa.CheckConstraint("outcome IN ('passed', 'failed')", name=op.f("ck_installs_outcome")),
        sa.ForeignKeyConstraint(
            ["installer_id"], ["users.id"], name=op.f("fk_installs_installer_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["terminal_id"], ["terminals.id"], name=op.f("fk_installs_terminal_id_terminals")
        ),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_orders.id"],
            name=op.f("fk_installs_work_order_id_work_orders"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_installs")),
    )
    op.create_index(op.f("ix_installs_terminal_id"), "installs", ["terminal_id"], unique=False)
    op.create_index(op.f("ix_installs_work_order_id"), "installs", ["work_order_id"], unique=False)

    op.create_table(
        "trainings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("install_id", sa.Integer(), nullable=True),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("manager_name", sa.String(length=50), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(), nullable=False),
        sa.Column("by_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["by_id"], ["users.id"], name=op.f("fk_trainings_by_id_users")),
        sa.ForeignKeyConstraint(
            ["install_id"], ["installs.id"], name=op.f("fk_trainings_install_id_installs")
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_trainings_merchant_id_merchants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trainings")),
    )
    op.create_index(op.f("ix_trainings_merchant_id"), "trainings", ["merchant_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_trainings_merchant_id"), table_name="trainings")

    op.drop_table("trainings")
    op.drop_index(op.f("ix_installs_work_order_id"), table_name="installs")
    op.drop_index(op.f("ix_installs_terminal_id"), table_name="installs")

    op.drop_table("installs")
    op.drop_index(op.f("ix_work_orders_merchant_id"), table_name="work_orders")
    op.drop_index(op.f("ix_work_orders_installer_id"), table_name="work_orders")

    op.drop_table("work_orders")
    op.drop_table("terminal_apps")
    op.drop_index(op.f("ix_maintenance_visits_terminal_id"), table_name="maintenance_visits")

    op.drop_table("maintenance_visits")
    op.drop_index(op.f("ix_terminals_merchant_id"), table_name="terminals")

    op.drop_table("terminals")
    op.drop_index(op.f("ix_reviews_merchant_id"), table_name="reviews")

    op.drop_table("reviews")
    op.drop_index(op.f("ix_documents_merchant_id"), table_name="documents")

    op.drop_table("documents")
    op.drop_table("merchants")
    op.drop_index(op.f("ix_audit_row"), table_name="audit")

    op.drop_table("audit")
    op.drop_table("users")
    op.drop_table("profiles")
