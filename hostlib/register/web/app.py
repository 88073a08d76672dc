"""The back-office web app of the register: a Flask app over an open register.

    from hostlib.register import db
    from hostlib.register.web.app import create_app
    app = create_app(db.open("sqlite:///register.db"), secret_key=key)
    app.run()        # for a try-out; `poskit register serve` serves it with waitress

What it keeps, on every page and every POST:
- a login: every page but the login page needs one; the session cookie is signed, HttpOnly
  and SameSite=Lax, and a user made inactive is logged out at their next click;
- the roles: what a page offers follows hostlib.register.auth.allowed, and whatever is posted
  goes through hostlib.register.service, which checks the role again and raises Forbidden
  (a 403 page): a button left out is a convenience, never the check;
- CSRF: every form carries a token (Flask-WTF's CSRFProtect); a POST without it is refused
  with a 400 page saying why, before it reaches the register;
- no script at all: the Content-Security-Policy forbids it (an install record is shown in a
  sandboxed frame), and nothing is loaded from outside the app (a back office may have no
  internet).
"""

from __future__ import annotations

from flask import Flask, g, render_template
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException

from hostlib.register import Conflict, Forbidden, NotFound, RegisterError
from hostlib.register.web import labels, login, merchants, terminals, users, work

# Enough for every document of the checklist in one application form (nine files of 5 MB at
# most, checked one by one) with its fields; a larger request is refused whole (413 page).
MAX_REQUEST = 48 * 1024 * 1024

# No script, no plug-in, nothing from elsewhere; frames only from here (the install record,
# itself served sandboxed); no other site may frame these pages.
_CSP = (
    "default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-src 'self'; frame-ancestors 'self'"
)


def create_app(register, secret_key: str, *, testing: bool = False) -> Flask:
    """The web app over `register` (a hostlib.register.db.Register); `secret_key` signs the
    session cookies (hostlib.register.web.serve.secret_key keeps one)."""
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="poskit_register",
        MAX_CONTENT_LENGTH=MAX_REQUEST,
        # The token lives as long as the login; a form left open over lunch still posts.
        WTF_CSRF_TIME_LIMIT=None,
        TESTING=testing,
    )
    app.extensions["register"] = register
    CSRFProtect(app)
    for module in (login, merchants, work, terminals, users):
        app.register_blueprint(module.blueprint)
    login.install(app)
    _install_errors(app)

    @app.context_processor
    def _labels():
        return {
            "stage_names": labels.STAGES,
            "channel_names": labels.CHANNELS,
            "document_names": labels.DOCUMENTS,
            "review_names": labels.REVIEW_STEPS,
            "training_names": labels.TRAINING_ITEMS,
            "kind_names": labels.WORK_ORDER_KINDS,
            "line_names": labels.LINES,
            "yuan": lambda fen: "%d.%02d" % divmod(fen or 0, 100),
            "size": _size,
            # 0.600 as 0.60, 0.625 as 0.625: two decimals at least, as the form writes it
            "percent": lambda rate: "%.2f" % rate if rate == round(rate, 2) else str(rate),
        }

    @app.after_request
    def _headers(response):
        response.headers.setdefault("Content-Security-Policy", _CSP)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        if response.mimetype == "text/html":
            response.headers["Cache-Control"] = "no-store"
        return response

    return app


def _install_errors(app: Flask) -> None:
    """Every refusal as a page that says what happened and what to do, never a traceback."""

    def page(status: int, title: str, message: str, hint: str = ""):
        return (
            render_template("error.html", status=status, title=title, message=message, hint=hint),
            status,
        )

    @app.errorhandler(CSRFError)
    def _csrf(exc):
        return page(
            400,
            "The form was not accepted",
            "The form came without its security token, or with an old one (%s)." % exc.description,
            "Go back, reload the page and send the form again. Nothing was changed.",
        )

    @app.errorhandler(Forbidden)
    def _forbidden(exc):
        return page(403, "Not allowed", str(exc), "Nothing was changed.")

    @app.errorhandler(NotFound)
    def _not_found(exc):
        return page(404, "Not found", str(exc))

    @app.errorhandler(Conflict)
    def _conflict(exc):
        return page(409, "Refused by the register", str(exc), "Nothing was changed.")

    @app.errorhandler(RegisterError)
    def _register_error(exc):
        return page(400, "Refused by the register", str(exc), "Nothing was changed.")

    @app.errorhandler(413)
    def _too_large(_exc):
        return page(
            413,
            "Upload too large",
            "The files sent together are larger than %d MB." % (MAX_REQUEST // (1024 * 1024)),
            "Each document may be up to 5 MB: send fewer at a time, or smaller scans.",
        )

    @app.errorhandler(HTTPException)
    def _http(exc):
        return page(exc.code or 500, exc.name, exc.description or "")

    @app.errorhandler(Exception)
    def _unexpected(exc):
        if app.testing:
            raise exc  # a test sees the traceback
        app.logger.exception("unexpected error on %s", getattr(g, "path", "?"))
        return page(
            500,
            "Something went wrong",
            "The register hit an error it did not expect (%s). Nothing was changed."
            % type(exc).__name__,
            "The server's log has the details for whoever looks after it.",
        )


def _size(size: int) -> str:
    """A document's size as people say it: 812 bytes, 245 KB, 3.1 MB."""
    if size < 1024:
        return "%d bytes" % size
    if size < 1024 * 1024:
        return "%d KB" % round(size / 1024)
    return "%.1f MB" % (size / (1024 * 1024))
