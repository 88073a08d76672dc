"""The register's back-office web app (`poskit register serve`): the pipeline, the application
form and its documents, the review steps, work orders, terminals with their installs, training
and visits, search and the audit trail, for salespeople, reviewers, installers and the
administrator (docs/register.md, "The web app").

    from hostlib.register import db
    from hostlib.register.web.app import create_app
    app = create_app(db.open(url), secret_key=serve.secret_key(url))

app.py makes the app (logins, CSRF, security headers, error pages); one module per group of
pages (login, merchants, work, terminals, users); serve.py the server and its secret key.
Every page reads and writes through hostlib.register.service, which applies the roles.
"""
