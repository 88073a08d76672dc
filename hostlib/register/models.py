"""The register's tables, as SQLAlchemy models (docs/register.md says what each holds).

    from hostlib.register.models import Merchant
    s.scalars(select(Merchant).where(Merchant.stage == "approved")).all()

The schema itself is made and changed only by the migrations (hostlib/register/migrations),
never by `create_all`: a register made by one version of poskit is brought to the next by
`poskit register upgrade`, on SQLite and PostgreSQL alike. A change here needs a new
migration. Rules that a constraint can say are constraints here (so that nothing, not even a
script writing SQL, breaks them); the rest are hostlib.register.service's.

Times are UTC, without a zone (SQLite keeps none); money in fen; the fee rate in percent.
"""

from __future__ import annotations

import datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from hostlib.register.terms import (  # noqa: F401 (the models' names for them)
    CHANNELS,
    CONTENT_TYPES,
    DOCUMENT_KINDS,
    INSTALL_OUTCOMES,
    LINES,
    REVIEW_STEPS,
    ROLES,
    STAGES,
    TRAINING_ITEMS,
    WORK_ORDER_KINDS,
    WORK_ORDER_STATUSES,
)


def utcnow() -> datetime.datetime:
    """Now, UTC, to the second, without a zone: how the register keeps times."""
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None, microsecond=0)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return "%s IN (%s)" % (column, ", ".join("'%s'" % v for v in values))


class Base(DeclarativeBase):
    # Named constraints: a migration can then alter them by name on PostgreSQL, and SQLite's
    # batch mode can find them again.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class User(Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint(_one_of("role", ROLES), name="role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    staff_id: Mapped[str] = mapped_column(String(32), default="")  # 工号 on the form
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)

    def __repr__(self) -> str:
        return "<User %s (%s)>" % (self.username, self.role)


class Merchant(Base):
    """The POS terminal application form (《POS终端申请签约单》), and where the merchant is in
    the pipeline (`stage`)."""

    __tablename__ = "merchants"
    __table_args__ = (
        CheckConstraint(_one_of("channel", CHANNELS), name="channel"),
        CheckConstraint(_one_of("stage", STAGES), name="stage"),
        # the referring merchant is named exactly when the channel is a referral
        CheckConstraint(
            "(channel = 'referral') = (referrer_id IS NOT NULL)", name="referrer_iff_referral"
        ),
        CheckConstraint("fee_rate > 0 AND fee_rate <= 5", name="fee_rate"),
        CheckConstraint("terminal_price >= 0", name="terminal_price"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contract_no: Mapped[str] = mapped_column(String(32), unique=True)
    company_name: Mapped[str] = mapped_column(String(100))
    slip_name: Mapped[str] = mapped_column(String(40))
    address: Mapped[str] = mapped_column(String(200))
    contact: Mapped[str] = mapped_column(String(50))
    phone: Mapped[str] = mapped_column(String(24))
    terminal_price: Mapped[int] = mapped_column(Integer)  # fen
    fee_rate: Mapped[Decimal] = mapped_column(Numeric(6, 3))  # percent
    install_location: Mapped[str] = mapped_column(String(200), default="")
    install_date: Mapped[datetime.date | None] = mapped_column(Date, nullable=True)
    remarks: Mapped[str] = mapped_column(Text, default="")
    salesperson_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    signing_date: Mapped[datetime.date] = mapped_column(Date)
    channel: Mapped[str] = mapped_column(String(16))
    referrer_id: Mapped[int | None] = mapped_column(ForeignKey("merchants.id"), nullable=True)
    mid: Mapped[str | None] = mapped_column(String(15), unique=True, nullable=True)
    stage: Mapped[str] = mapped_column(String(16), default="applied")
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)

    salesperson: Mapped[User] = relationship(foreign_keys=[salesperson_id])
    referrer: Mapped[Merchant | None] = relationship(remote_side=[id])
    documents: Mapped[list[Document]] = relationship(
        back_populates="merchant", order_by="Document.id"
    )
    reviews: Mapped[list[Review]] = relationship(back_populates="merchant", order_by="Review.id")
    work_orders: Mapped[list[WorkOrder]] = relationship(
        back_populates="merchant", order_by="WorkOrder.id"
    )
    terminals: Mapped[list[Terminal]] = relationship(
        back_populates="merchant", order_by="Terminal.id"
    )
    trainings: Mapped[list[Training]] = relationship(order_by="Training.id")

    def __repr__(self) -> str:
        return "<Merchant %s %s (%s)>" % (self.contract_no, self.company_name, self.stage)


class Document(Base):
    """An uploaded document of the application: a copy (PDF or picture) or a photo."""

    __tablename__ = "documents"
    __table_args__ = (
        CheckConstraint(_one_of("kind", DOCUMENT_KINDS), name="kind"),
        CheckConstraint(_one_of("content_type", CONTENT_TYPES), name="content_type"),
        CheckConstraint("size > 0 AND size <= 5242880", name="size"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(40))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)

    merchant: Mapped[Merchant] = relationship(back_populates="documents")


class Review(Base):
    """One review step: the phone check, the on-site check, the submission to the bank or
    third party, or their decision."""

    __tablename__ = "reviews"
    __table_args__ = (CheckConstraint(_one_of("step", REVIEW_STEPS), name="step"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    step: Mapped[str] = mapped_column(String(12))
    outcome: Mapped[str] = mapped_column(String(100))
    findings: Mapped[str] = mapped_column(Text, default="")
    party: Mapped[str] = mapped_column(String(100), default="")
    decided_on: Mapped[datetime.date | None] = mapped_column(Date, nullable=True)
    by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)

    merchant: Mapped[Merchant] = relationship(back_populates="reviews")
    by: Mapped[User] = relationship()


class Profile(Base):
    """An acquirer profile: a job's [terminal] and [[application]] settings, without the
    merchant's own (MID, TID, slip name come from the register)."""

    __tablename__ = "profiles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    toml: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)


class Terminal(Base):
    """A terminal by its serial; `merchant_id` the one merchant it belongs to now."""

    __tablename__ = "terminals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    serial: Mapped[str] = mapped_column(String(16), unique=True)
    model: Mapped[str] = mapped_column(String(40), default="")
    iccid: Mapped[str] = mapped_column(String(22), default="")
    pinpad_serial: Mapped[str] = mapped_column(String(40), default="")
    merchant_id: Mapped[int | None] = mapped_column(
        ForeignKey("merchants.id"), nullable=True, index=True
    )
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)

    merchant: Mapped[Merchant | None] = relationship(back_populates="terminals")
    apps: Mapped[list[TerminalApp]] = relationship(
        back_populates="terminal", order_by="TerminalApp.app_index"
    )
    installs: Mapped[list[Install]] = relationship(
        back_populates="terminal", order_by="Install.id"
    )
    visits: Mapped[list[MaintenanceVisit]] = relationship(order_by="MaintenanceVisit.id")


class WorkOrder(Base):
    """The installation work order (§4.1): the appointment and what the spot is like."""

    __tablename__ = "work_orders"
    __table_args__ = (
        CheckConstraint(_one_of("kind", WORK_ORDER_KINDS), name="kind"),
        CheckConstraint("line IS NULL OR " + _one_of("line", LINES), name="line"),
        CheckConstraint(_one_of("status", WORK_ORDER_STATUSES), name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    installer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    appointment_at: Mapped[datetime.datetime] = mapped_column(DateTime)
    place: Mapped[str] = mapped_column(String(200))
    requirements_confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    deposit_collected: Mapped[bool] = mapped_column(Boolean, default=False)
    kind: Mapped[str] = mapped_column(String(8))
    line: Mapped[str | None] = mapped_column(String(10), nullable=True)
    outside_prefix: Mapped[str] = mapped_column(String(16), default="")
    power_position: Mapped[str] = mapped_column(String(200), default="")
    line_position: Mapped[str] = mapped_column(String(200), default="")
    signal_readings: Mapped[list] = mapped_column(JSON, default=list)  # [{spot, csq}]
    chosen_spot: Mapped[str] = mapped_column(String(100), default="")
    profile_id: Mapped[int | None] = mapped_column(ForeignKey("profiles.id"), nullable=True)
    # the terminal to install (its serial goes into the job); set when it is known
    terminal_id: Mapped[int | None] = mapped_column(ForeignKey("terminals.id"), nullable=True)
    status: Mapped[str] = mapped_column(String(10), default="open")
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)

    merchant: Mapped[Merchant] = relationship(back_populates="work_orders")
    installer: Mapped[User] = relationship(foreign_keys=[installer_id])
    created_by: Mapped[User] = relationship(foreign_keys=[created_by_id])
    profile: Mapped[Profile | None] = relationship()
    terminal: Mapped[Terminal | None] = relationship()
    installs: Mapped[list[Install]] = relationship(
        back_populates="work_order", order_by="Install.id"
    )


class TerminalApp(Base):
    """One acquirer application on a terminal: its MID, TID and the name on its slip."""

    __tablename__ = "terminal_apps"
    __table_args__ = (
        UniqueConstraint("mid", "tid"),
        UniqueConstraint("terminal_id", "app_index"),
        CheckConstraint("app_index >= 1 AND app_index <= 8", name="app_index"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    terminal_id: Mapped[int] = mapped_column(ForeignKey("terminals.id"))
    app_index: Mapped[int] = mapped_column(Integer)
    acquirer: Mapped[str] = mapped_column(String(40))
    mid: Mapped[str] = mapped_column(String(15))
    tid: Mapped[str] = mapped_column(String(8))
    slip_name: Mapped[str] = mapped_column(String(40))

    terminal: Mapped[Terminal] = relationship(back_populates="apps")


class Install(Base):
    """One run of `poskit install` for a work order, with its record and slips."""

    __tablename__ = "installs"
    __table_args__ = (CheckConstraint(_one_of("outcome", INSTALL_OUTCOMES), name="outcome"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id"), index=True)
    terminal_id: Mapped[int] = mapped_column(ForeignKey("terminals.id"), index=True)
    installer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    outcome: Mapped[str] = mapped_column(String(8))
    record_json: Mapped[str] = mapped_column(Text)
    record_html: Mapped[str] = mapped_column(Text, default="")
    slips: Mapped[str] = mapped_column(Text, default="")

    work_order: Mapped[WorkOrder] = relationship(back_populates="installs")
    terminal: Mapped[Terminal] = relationship(back_populates="installs")
    installer: Mapped[User] = relationship()


class Training(Base):
    """The merchant's training (§5), item by item, confirmed by the merchant's manager."""

    __tablename__ = "trainings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    install_id: Mapped[int | None] = mapped_column(ForeignKey("installs.id"), nullable=True)
    items: Mapped[dict] = mapped_column(JSON)
    manager_name: Mapped[str] = mapped_column(String(50))
    confirmed_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))


class MaintenanceVisit(Base):
    __tablename__ = "maintenance_visits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    terminal_id: Mapped[int] = mapped_column(ForeignKey("terminals.id"), index=True)
    merchant_id: Mapped[int | None] = mapped_column(ForeignKey("merchants.id"), nullable=True)
    at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(String(200))
    findings: Mapped[str] = mapped_column(Text, default="")
    action: Mapped[str] = mapped_column(Text, default="")

    by: Mapped[User] = relationship()


class Audit(Base):
    """One change to one row: who, when, the row's values before and after (JSON). Written in
    the transaction of the change by hostlib.register.db's flush hook."""

    __tablename__ = "audit"
    __table_args__ = (
        CheckConstraint(_one_of("action", ("insert", "update", "delete")), name="action"),
        Index("ix_audit_row", "table_name", "row_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    username: Mapped[str] = mapped_column(String(32))
    table: Mapped[str] = mapped_column("table_name", String(32))
    row_id: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(8))
    before: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    after: Mapped[dict | None] = mapped_column(JSON, nullable=True)
