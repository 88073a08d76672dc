"""The register's words: roles, stages, channels, document kinds and the other fixed sets,
as the database constraints, the validators and the command line's choices spell them (kept
apart from the models so that `poskit --help` does not load the database library)."""

ROLES = ("salesperson", "reviewer", "installer", "admin")
CHANNELS = ("online", "phone_list", "cold_visit", "referral")
STAGES = (
    "applied",
    "phone_checked",
    "site_checked",
    "submitted",
    "approved",
    "declined",
    "work_order",
    "installed",
    "trained",
)
DOCUMENT_KINDS = (
    "licence_copy",
    "legal_id_copy",
    "tax_copy",
    "org_code_copy",
    "account_permit",
    "photo_licence",
    "photo_sign",
    "photo_desk",
    "photo_premises",
)
CONTENT_TYPES = ("application/pdf", "image/jpeg", "image/png")
REVIEW_STEPS = ("phone", "site", "submission", "decision")
WORK_ORDER_KINDS = ("desktop", "mobile")
LINES = ("direct", "extension")
# What an installer finds at the spot and may change on their own work order (every other
# field of a work order is the back office's).
SPOT_FIELDS = (
    "line",
    "outside_prefix",
    "power_position",
    "line_position",
    "signal_readings",
    "chosen_spot",
    "serial",
)
WORK_ORDER_STATUSES = ("open", "installed", "cancelled")
INSTALL_OUTCOMES = ("passed", "failed")
TRAINING_ITEMS = (
    "sign_on",
    "sale",
    "void",
    "pre_auth",
    "refund",
    "settlement",
    "paper_loading",
    "paper_jam",
    "near_end",
)
