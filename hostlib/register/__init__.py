"""The register: merchants from the application form to an installed terminal, in one
database (a SQLite file by default, PostgreSQL for an operator with many installers).

    from hostlib.register import db, service
    register = db.open()                      # $POSKIT_REGISTER, else ~/.poskit/register.db
    with register.transaction(actor) as s:    # one transaction: committed, or nothing at all
        merchant = service.create_merchant(s, actor, {...})

What it holds, and the stages a merchant goes through (applied, checked by phone and on site,
submitted, approved or declined, a work order, installed, trained), are in docs/register.md.
The rules are kept by the register itself, not by whoever calls it: database constraints
where a constraint can say it (a terminal serial, a MID/TID pair, a contract number is
unique), hostlib.register.service otherwise (who may do what, what a stage allows). Every
change is written to the audit trail in the transaction that makes it.

Errors: every refusal is a RegisterError (a PoskitError), one of
    Forbidden(message)   the user's role does not allow it
    Invalid(errors)      fields that fail validation: {field: message}
    Conflict(message)    a rule of the register (a serial another merchant holds...)
    NotFound(message)    no such merchant, work order, terminal, user or profile
"""

from hostlib.errors import PoskitError


class RegisterError(PoskitError):
    """A refusal of the register; the message is meant for the user."""


class Forbidden(RegisterError):
    """The acting user's role does not allow the operation."""


class Invalid(RegisterError):
    """Fields that fail validation. `errors` maps each field to its message, for a form to
    show next to the field; str() gives them all on one line for the command line."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join("%s: %s" % item for item in self.errors.items()))


class Conflict(RegisterError):
    """A rule of the register refuses the operation (the message says which, and how)."""


class NotFound(RegisterError):
    """No such row (merchant, work order, terminal, user, profile)."""
