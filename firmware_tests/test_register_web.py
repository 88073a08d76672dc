"""The register's back-office web app through Flask's test client: logins and roles on every
page and every POST, each field's message next to it with the input kept, CSRF refusals,
upload limits, the pipeline, search, the audit trail, the install record kept sandboxed, the
secret key beside the register. (firmware_tests/test_register_browser.py drives the same app
in a real browser.)"""

from __future__ import annotations

import io
import json
import re
import stat

import pytest
from registerweb import (
    APPLICATION,
    PASSWORD,
    PDF,
    PNG,
    Site,
    install_record,
    post,
    token,
)

from hostlib.errors import PoskitError
from hostlib.register import models, service
from hostlib.register.web import serve


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """The users' register, made once: each test gets its own copy."""
    folder = tmp_path_factory.mktemp("template")
    Site(folder).register.close()
    return folder / "register.db"


@pytest.fixture
def site(tmp_path, template):
    site = Site(tmp_path, template)
    yield site
    site.register.close()


# --- logins -------------------------------------------------------------------------------------


def test_every_page_needs_a_login(site):
    client = site.app.test_client()
    for path in ("/", "/merchants/new", "/work-orders", "/search?q=1", "/users"):
        response = client.get(path)
        assert response.status_code == 302
        assert "/login" in response.headers["Location"]


def test_a_wrong_password_is_refused_without_saying_which_part(site):
    client = site.app.test_client()
    page = client.get("/login")
    wrong_password = client.post(
        "/login", data={"username": "sales", "password": "nope", "csrf_token": token(page)}
    )
    no_user = client.post(
        "/login", data={"username": "nobody", "password": "nope", "csrf_token": token(page)}
    )
    assert wrong_password.status_code == no_user.status_code == 401
    assert "Wrong user name or password" in wrong_password.text
    assert client.get("/").status_code == 302  # still not logged in
    assert 'value="sales"' in wrong_password.text  # the name typed is kept


def test_the_session_cookie_is_httponly_and_samesite_lax(site):
    client = site.app.test_client()
    page = client.get("/login")
    response = client.post(
        "/login", data={"username": "sales", "password": PASSWORD, "csrf_token": token(page)}
    )
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_a_disabled_user_is_logged_out_at_their_next_click(site):
    client = site.client("sales")
    assert client.get("/").status_code == 200
    admin = site.user("admin")
    with site.register.transaction(admin) as s:
        service.set_active(s, admin, "sales", False)
    response = client.get("/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_logout_ends_the_session(site):
    client = site.client("sales")
    post(client, "/logout", {})
    assert client.get("/").status_code == 302


def test_login_goes_on_to_the_page_asked_for_but_never_elsewhere(site):
    client = site.app.test_client()
    page = client.get("/login?next=//evil.example/")
    response = client.post(
        "/login",
        data={
            "username": "sales",
            "password": PASSWORD,
            "csrf_token": token(page),
            "next": "//evil.example/",
        },
    )
    assert response.headers["Location"] == "/"


# --- CSRF ---------------------------------------------------------------------------------------


def test_a_form_without_its_csrf_token_is_refused_with_a_readable_page(site):
    client = site.client("sales")
    response = client.post("/merchants/new", data=APPLICATION)
    assert response.status_code == 400
    assert "security token" in response.text
    assert "Nothing was changed" in response.text
    with site.register.session() as s:
        assert s.query(models.Merchant).count() == 0


def test_a_token_from_another_session_is_refused(site):
    mine = site.client("sales")
    theirs = site.client("sales2")
    response = mine.post("/merchants/new", data=dict(APPLICATION, csrf_token=theirs.token))
    assert response.status_code == 400
    with site.register.session() as s:
        assert s.query(models.Merchant).count() == 0


# --- the application form -----------------------------------------------------------------------


def test_an_application_with_its_documents_is_saved(site):
    client = site.client("sales")
    data = dict(
        APPLICATION,
        doc_photo_licence=(io.BytesIO(PNG), "licence.png"),
        doc_licence_copy=(io.BytesIO(PDF), "licence.pdf"),
    )
    response = post(client, "/merchants/new", data, content_type="multipart/form-data")
    assert response.status_code == 302, response.text
    page = client.get(response.headers["Location"])
    assert "上海一号便利店" in page.text
    assert "Still missing 7 of 9" in page.text
    assert "licence.png" in page.text
    with site.register.session() as s:
        m = s.query(models.Merchant).one()
        assert m.salesperson.username == "sales"
        assert m.terminal_price == 29900
        assert sorted(d.kind for d in m.documents) == ["licence_copy", "photo_licence"]
        doc_id = [d.id for d in m.documents if d.kind == "photo_licence"][0]
    download = client.get("/documents/%d" % doc_id)
    assert download.data == PNG
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert download.mimetype == "image/png"


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("fee_rate", "7", "must be above 0 and at most 5"),
        ("phone", "call me", "must be a phone number"),
        ("slip_name", "上海浦东新区某某路一号便利店连锁有限公司分店", "the slip takes at most 40"),
        ("terminal_price", "299.999", "a price in yuan"),
        ("contract_no", "", "required"),
        ("channel", "referral", "a referral names the referring merchant"),
    ],
)
def test_each_field_is_checked_with_its_message_next_to_it_and_the_input_kept(
    site, field, value, message
):
    client = site.client("sales")
    response = post(client, "/merchants/new", dict(APPLICATION, **{field: value}))
    assert response.status_code == 400
    target = "referrer" if field == "channel" else field
    shown = re.search(r'<span class="message" id="e-%s">([^<]*)</span>' % target, response.text)
    assert shown and message in shown.group(1), response.text
    # what the user typed is still in the form
    assert 'value="上海一号便利店"' in response.text
    if field not in ("channel", "contract_no"):
        assert 'value="%s"' % value in response.text
    with site.register.session() as s:
        assert s.query(models.Merchant).count() == 0


def test_a_contract_number_is_one_merchants(site):
    site.merchant()
    client = site.client("sales")
    response = post(client, "/merchants/new", APPLICATION)
    assert response.status_code == 400
    assert "SH-2026-0001 is already merchant" in response.text


# --- uploads ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, name, message",
    [
        (b"%PDF" + b"x" * (5 * 1024 * 1024), "big.pdf", "larger than 5 MB"),
        (b"MZ\x90\x00 this is a program", "scan.pdf", "is not a PDF, JPEG or PNG"),
        (b"GIF89a....", "sign.png", "is not a PDF, JPEG or PNG"),
        (b"", "empty.jpg", "is empty"),
    ],
)
def test_an_upload_too_large_or_not_a_pdf_jpeg_png_is_refused_with_a_reason(
    site, data, name, message
):
    merchant_id = site.merchant()
    client = site.client("sales")
    response = post(
        client,
        "/merchants/%d/documents" % merchant_id,
        {"kind": "photo_sign", "file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    shown = re.search(r'id="e-doc_photo_sign">([^<]*)<', response.text)
    assert shown and message in shown.group(1) and name in shown.group(1)
    with site.register.session() as s:
        assert s.query(models.Document).count() == 0


def test_a_refused_document_on_the_form_saves_nothing_and_says_which(site):
    client = site.client("sales")
    data = dict(
        APPLICATION,
        fee_rate="0",
        doc_photo_licence=(io.BytesIO(PNG), "licence.png"),
        doc_tax_copy=(io.BytesIO(b"plain text"), "tax.pdf"),
    )
    response = post(client, "/merchants/new", data, content_type="multipart/form-data")
    assert response.status_code == 400
    assert re.search(r'id="e-doc_tax_copy">[^<]*not a PDF, JPEG or PNG', response.text)
    assert re.search(r'id="e-fee_rate">must be above 0', response.text)  # in the same answer
    assert "choose them again" in response.text
    with site.register.session() as s:
        assert s.query(models.Merchant).count() == 0
        assert s.query(models.Document).count() == 0


def test_a_request_larger_than_every_document_together_is_refused_readably(site):
    site.app.config["MAX_CONTENT_LENGTH"] = 1024  # the same refusal, smaller
    client = site.client("sales")
    response = post(
        client,
        "/merchants/new",
        dict(APPLICATION, doc_photo_sign=(io.BytesIO(PNG * 40), "sign.png")),
        content_type="multipart/form-data",
    )
    assert response.status_code == 413
    assert "Upload too large" in response.text


# --- roles --------------------------------------------------------------------------------------


def test_a_salesperson_has_no_approve_button_and_a_forged_approval_is_refused(site):
    merchant_id = site.merchant()
    reviewer = site.user("review")
    with site.register.transaction(reviewer) as s:
        service.record_review(s, reviewer, merchant_id, "phone", "pass")
        service.record_review(s, reviewer, merchant_id, "site", "pass", findings="ok")
        service.record_review(s, reviewer, merchant_id, "submission", "", party="ICBC")
    client = site.client("sales")
    page = client.get("/merchants/%d" % merchant_id)
    assert page.status_code == 200
    assert 'id="review-decision"' not in page.text
    assert "Record the decision" not in page.text
    assert "edit the application" not in page.text  # submitted: no longer the salesperson's
    forged = post(
        client,
        "/merchants/%d/reviews" % merchant_id,
        {"step": "decision", "outcome": "approved", "decided_on": "2026-12-05"},
    )
    assert forged.status_code == 403
    assert "a salesperson cannot record a review or a decision" in forged.text
    with site.register.session() as s:
        m = s.get(models.Merchant, merchant_id)
        assert m.stage == "submitted"
        assert [r.step for r in m.reviews] == ["phone", "site", "submission"]
    # the reviewer has the button, and it works
    reviewer_client = site.client("review")
    assert 'id="review-decision"' in reviewer_client.get("/merchants/%d" % merchant_id).text
    done = post(
        reviewer_client,
        "/merchants/%d/reviews" % merchant_id,
        {"step": "decision", "outcome": "approved", "decided_on": "2026-12-05", "party": ""},
    )
    assert done.status_code == 302
    with site.register.session() as s:
        assert s.get(models.Merchant, merchant_id).stage == "approved"


def test_a_salesperson_sees_only_their_own_merchants(site):
    mine = site.merchant("sales")
    theirs = site.merchant("sales2", contract_no="SH-2026-0002", company_name="二号饭店")
    client = site.client("sales")
    pipeline = client.get("/")
    assert "上海一号便利店" in pipeline.text and "二号饭店" not in pipeline.text
    assert client.get("/merchants/%d" % mine).status_code == 200
    refused = client.get("/merchants/%d" % theirs)
    assert refused.status_code == 403 and "not one of yours" in refused.text
    forged = post(client, "/merchants/%d/edit" % theirs, dict(APPLICATION, company_name="X"))
    assert forged.status_code == 403
    with site.register.session() as s:
        assert s.get(models.Merchant, theirs).company_name == "二号饭店"


def test_an_installer_sees_only_their_work_orders_and_those_merchants(site):
    mine = site.merchant()
    theirs = site.merchant(contract_no="SH-2026-0002", company_name="二号饭店")
    site.approve(mine)
    site.approve(theirs, mid="898310048160002")
    my_order = site.work_order(mine, "install")
    their_order = site.work_order(theirs, "install2")
    client = site.client("install")
    listing = client.get("/work-orders")
    assert "#%d" % my_order in listing.text and "#%d" % their_order not in listing.text
    assert "二号饭店" not in listing.text
    assert client.get("/work-orders/%d" % my_order).status_code == 200
    assert client.get("/work-orders/%d" % their_order).status_code == 403
    assert client.get("/merchants/%d" % theirs).status_code == 403
    assert "二号饭店" not in client.get("/").text
    assert "二号饭店" not in client.get("/search?q=饭店").text
    # no application form, no review, no users for an installer
    assert "New application" not in listing.text
    assert post(client, "/merchants/new", APPLICATION).status_code == 403
    assert client.get("/users").status_code == 403


def test_only_an_administrator_adds_users(site):
    data = {
        "username": "new.one",
        "name": "New One",
        "role": "reviewer",
        "staff_id": "",
        "password": "long-enough-1",
    }
    reviewer = site.client("review")
    assert post(reviewer, "/users", data).status_code == 403
    admin = site.client("admin")
    assert post(admin, "/users", data).status_code == 302
    short = post(admin, "/users", dict(data, username="other", password="short"))
    assert short.status_code == 400
    assert re.search(r'id="e-password">at least 8 characters', short.text)
    assert "short" not in re.findall(r'name="password" value="([^"]*)"', short.text)
    new = site.app.test_client()
    page = new.get("/login")
    login = new.post(
        "/login",
        data={"username": "new.one", "password": "long-enough-1", "csrf_token": token(page)},
    )
    assert login.status_code == 302


# --- review, work orders, terminals ------------------------------------------------------------


def test_the_review_steps_are_recorded_in_order_with_their_messages(site):
    merchant_id = site.merchant()
    client = site.client("review")
    path = "/merchants/%d/reviews" % merchant_id
    empty = post(client, path, {"step": "site", "outcome": "fail", "findings": ""})
    assert empty.status_code == 400
    assert "say what the site check found" in empty.text
    early = post(client, path, {"step": "submission", "party": "ICBC"})
    assert early.status_code == 409
    assert "once its phone and site checks have passed" in early.text
    for data in (
        {"step": "phone", "outcome": "pass", "findings": "owner confirmed"},
        {"step": "site", "outcome": "pass", "findings": "shop open, sign matches the licence"},
        {"step": "submission", "party": "ICBC 上海分行"},
        {"step": "decision", "outcome": "approved", "decided_on": "2026-12-05"},
    ):
        assert post(client, path, data).status_code == 302
    page = client.get("/merchants/%d" % merchant_id)
    assert "shop open, sign matches the licence" in page.text
    assert "ICBC 上海分行" in page.text
    assert "2026-12-05" in page.text
    bad_mid = post(client, "/merchants/%d/mid" % merchant_id, {"mid": "12345"})
    assert bad_mid.status_code == 400
    assert re.search(r'id="e-mid">must be 15 digits', bad_mid.text)
    assert 'value="12345"' in bad_mid.text
    assert (
        post(client, "/merchants/%d/mid" % merchant_id, {"mid": "898310048161234"}).status_code
        == 302
    )


def work_order_form(**fields):
    data = {
        "installer": "install",
        "appointment_at": "2026-12-08T10:00",
        "place": "收银台",
        "profile": "",
        "kind": "desktop",
        "line": "direct",
        "outside_prefix": "",
        "power_position": "behind the counter",
        "line_position": "left wall",
        "chosen_spot": "",
        "requirements_confirmed": "1",
        "deposit_collected": "1",
    }
    data.update(fields)
    return data


def test_a_work_order_is_only_for_an_approved_merchant(site):
    merchant_id = site.merchant()
    client = site.client("review")
    assert "New work order" not in client.get("/merchants/%d" % merchant_id).text
    refused = post(client, "/merchants/%d/work-orders/new" % merchant_id, work_order_form())
    assert refused.status_code == 409
    assert "only an approved merchant gets a work order" in refused.text


def test_a_work_order_keeps_the_spot_and_says_what_it_lacks(site):
    merchant_id = site.merchant()
    site.approve(merchant_id)
    client = site.client("review")
    path = "/merchants/%d/work-orders/new" % merchant_id
    extension = post(client, path, work_order_form(line="extension"))
    assert extension.status_code == 400
    assert re.search(
        r'id="e-outside_prefix">an extension needs its outside-line number', extension.text
    )
    assert 'value="behind the counter"' in extension.text

    def mobile(door_csq):
        readings = {"spot_1": "counter", "csq_1": "18", "spot_2": "door", "csq_2": door_csq}
        return work_order_form(kind="mobile", chosen_spot="counter", **readings)

    refused = post(client, path, mobile("40"))
    assert refused.status_code == 400
    assert "CSQ is a number 0 to 31" in refused.text
    assert 'value="door"' in refused.text
    made = post(client, path, mobile("11"))
    assert made.status_code == 302
    page = client.get(made.headers["Location"])
    assert "counter: CSQ 18; door: CSQ 11" in page.text
    with site.register.session() as s:
        order = s.query(models.WorkOrder).one()
        assert order.signal_readings == [
            {"spot": "counter", "csq": 18},
            {"spot": "door", "csq": 11},
        ]
        assert order.chosen_spot == "counter" and order.deposit_collected
        assert s.get(models.Merchant, merchant_id).stage == "work_order"


def test_an_installer_changes_only_what_they_find_at_the_spot(site):
    merchant_id = site.merchant()
    site.approve(merchant_id)
    order_id = site.work_order(merchant_id)
    client = site.client("install")
    page = client.get("/work-orders/%d" % order_id)
    assert 'name="installer"' not in page.text and 'name="line_position"' in page.text
    done = post(
        client,
        "/work-orders/%d" % order_id,
        work_order_form(
            line="extension",
            outside_prefix="9",
            line_position="under the till",
            installer="install2",
        ),
    )
    assert done.status_code == 302
    with site.register.session() as s:
        order = s.get(models.WorkOrder, order_id)
        assert (order.line, order.outside_prefix) == ("extension", "9")
        assert order.installer.username == "install"  # not the installer's to change
    terminal = post(
        client,
        "/work-orders/%d/terminal" % order_id,
        {"terminal_serial": "pk-000777", "terminal_model": "poskit-esp32", "terminal_iccid": "12"},
    )
    assert terminal.status_code == 400
    assert re.search(r'id="e-terminal_iccid">the SIM&#39;s ICCID', terminal.text)
    terminal = post(
        client,
        "/work-orders/%d/terminal" % order_id,
        {"terminal_serial": "pk-000777", "terminal_model": "poskit-esp32"},
    )
    assert terminal.status_code == 302
    with site.register.session() as s:
        assert s.get(models.WorkOrder, order_id).terminal.serial == "PK-000777"


def installed(site):
    """A merchant approved, its work order's terminal installed; (merchant id, install id)."""
    merchant_id = site.merchant()
    site.approve(merchant_id)
    order_id = site.work_order(merchant_id)
    installer = site.user("install")
    record, page = install_record("PK-000777", "898310048161234", "12345678", "一号便利店")
    page = page.replace("</body>", "<script>document.title='x'</script></body>")
    with site.register.transaction(installer) as s:
        install = service.record_install(s, installer, order_id, record, page)
        return merchant_id, install.id


def test_a_terminals_page_shows_its_applications_installs_and_slips(site):
    merchant_id, install_id = installed(site)
    client = site.client("install")
    page = client.get("/terminals/PK-000777")
    assert page.status_code == 200
    assert "898310048161234" in page.text and "12345678" in page.text
    assert "PP-20931" in page.text  # the PIN pad serial, from the record
    assert "卡号: 622202******1234" in page.text  # a slip, as printed
    frame = re.search(r"<iframe[^>]*>", page.text).group(0)
    assert 'sandbox=""' in frame


def test_the_install_record_is_served_sandboxed_never_as_a_page_of_the_app(site):
    _merchant_id, install_id = installed(site)
    client = site.client("review")
    shown = client.get("/installs/%d/record" % install_id)
    assert shown.status_code == 200
    csp = shown.headers["Content-Security-Policy"]
    assert csp.startswith("sandbox;") and "script-src" not in csp and "default-src 'none'" in csp
    download = client.get("/installs/%d/record?download=1" % install_id)
    assert download.headers["Content-Disposition"].startswith("attachment;")
    as_json = client.get("/installs/%d/record.json" % install_id)
    assert json.loads(as_json.data)["terminal"]["serial"] == "PK-000777"
    # another installer's install is not theirs to read
    assert site.client("install2").get("/installs/%d/record" % install_id).status_code == 403


def test_every_page_forbids_scripts(site):
    client = site.client("admin")
    response = client.get("/")
    assert "script-src 'none'" in response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'self'" in response.headers["Content-Security-Policy"]
    assert "<script" not in response.text


def test_training_and_visits_on_the_terminals_page(site):
    merchant_id, _install_id = installed(site)
    client = site.client("install")
    path = "/terminals/PK-000777/training"
    nobody = post(client, path, {"item_sale": "1", "manager_name": ""})
    assert nobody.status_code == 400
    assert re.search(r'id="e-manager_name">the merchant&#39;s manager who confirms', nobody.text)
    assert re.search(r'name="item_sale" value="1" checked', nobody.text)
    items = {"item_" + item: "1" for item in models.TRAINING_ITEMS}
    assert post(client, path, dict(items, manager_name="张经理")).status_code == 302
    with site.register.session() as s:
        assert s.get(models.Merchant, merchant_id).stage == "trained"
    visit = post(
        client, "/terminals/PK-000777/visits", {"reason": "", "findings": "", "action": ""}
    )
    assert visit.status_code == 400 and "why the visit" in visit.text
    visit = post(
        client,
        "/terminals/PK-000777/visits",
        {"reason": "paper jams", "findings": "worn roller", "action": "roller replaced"},
    )
    assert visit.status_code == 302
    page = client.get("/terminals/PK-000777")
    assert "confirmed by the manager" in page.text.lower() or "张经理" in page.text
    assert "roller replaced" in page.text


# --- pipeline, search, audit --------------------------------------------------------------------


def test_the_pipeline_counts_each_stage_and_compares_the_channels(site):
    site.merchant(channel="online")
    approved = site.merchant(contract_no="SH-2026-0002", channel="cold_visit")
    site.approve(approved)
    site.merchant(contract_no="SH-2026-0003", channel="referral", referrer="SH-2026-0002")
    page = site.client("review").get("/")
    counts = dict(
        re.findall(
            r'id="stage-(\w+)">\s*<h3><span class="label">[^<]*<br>[^<]*</span> '
            r'<span class="count">(\d+)',
            page.text,
        )
    )
    assert counts["applied"] == "2" and counts["approved"] == "1" and counts["installed"] == "0"
    rows = re.findall(
        r"<tr><td>([a-z ]+) [^<]*</td><td class=\"num\">(\d+)</td><td class=\"num\">(\d+)</td>",
        page.text,
    )
    assert ("online", "1", "0") in rows
    assert ("cold visit", "1", "1") in rows
    assert ("referral", "1", "0") in rows


@pytest.mark.parametrize(
    "text",
    ["SH-2026-0001", "一号便利", "021-5555-0101", "898310048161234", "12345678", "PK-000777"],
)
def test_search_finds_a_merchant_by_contract_company_phone_mid_tid_or_serial(site, text):
    installed(site)
    site.merchant(
        contract_no="SH-2026-0002",
        company_name="二号饭店",
        slip_name="二号饭店",
        phone="13800138000",
    )
    page = site.client("review").get("/search", query_string={"q": text})
    assert "上海一号便利店" in page.text
    assert "二号饭店" not in page.text


def test_the_audit_trail_shows_who_when_before_and_after(site):
    merchant_id = site.merchant()
    client = site.client("sales")
    changed = post(
        client, "/merchants/%d/edit" % merchant_id, dict(APPLICATION, phone="021-5555-0199")
    )
    assert changed.status_code == 302
    assert (
        client.get("/merchants/%d/audit" % merchant_id).status_code == 403
    )  # not a salesperson's
    page = site.client("review").get("/merchants/%d/audit" % merchant_id)
    assert page.status_code == 200
    rows = re.findall(
        r"<tr>\s*<td>([\d :-]+)</td>\s*<td>(\w+)</td>\s*"
        r"<td>(.*?)</td>\s*<td>(.*?)</td>\s*<td>(.*?)</td>\s*</tr>",
        page.text,
        re.S,
    )
    inserted = [r for r in rows if "insert" in r[2] and "merchants" in r[2]]
    assert inserted and inserted[0][1] == "sales"
    assert "<th>contract_no</th><td>SH-2026-0001</td>" in page.text
    update = [r for r in rows if "update" in r[2]]
    assert update and update[0][1] == "sales"
    assert "021-5555-0101" in update[0][3] and "021-5555-0199" in update[0][4]


# --- the secret key -----------------------------------------------------------------------------


def test_the_secret_key_is_made_once_beside_the_register_for_its_owner_only(tmp_path, monkeypatch):
    monkeypatch.delenv(serve.SECRET_ENV, raising=False)
    url = "sqlite:///%s" % (tmp_path / "register.db")
    key = serve.secret_key(url)
    path = tmp_path / "register.db.secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert serve.secret_key(url) == key and len(key) >= 32
    path.chmod(0o644)
    with pytest.raises(PoskitError, match="can be read by others"):
        serve.secret_key(url)


def test_the_secret_key_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(serve.SECRET_ENV, "s" * 40)
    assert serve.secret_key("postgresql://poskit@db/register") == "s" * 40
    monkeypatch.setenv(serve.SECRET_ENV, "short")
    with pytest.raises(PoskitError, match="at least 16"):
        serve.secret_key("sqlite:///%s" % (tmp_path / "r.db"))
    monkeypatch.delenv(serve.SECRET_ENV)
    with pytest.raises(PoskitError, match="POSKIT_REGISTER_SECRET"):
        serve.secret_key("postgresql://poskit@db/register")


def test_a_user_changes_their_password_and_their_other_logins_end(site):
    client = site.client("sales")
    elsewhere = site.client("sales")
    wrong = post(client, "/password", {"current": "nope", "password": "new-pass-12", "again": "x"})
    assert wrong.status_code == 400 and "not your current password" in wrong.text
    differ = post(
        client, "/password", {"current": PASSWORD, "password": "new-pass-12", "again": "other-12"}
    )
    assert differ.status_code == 400 and "the two new passwords differ" in differ.text
    done = post(
        client,
        "/password",
        {"current": PASSWORD, "password": "new-pass-12", "again": "new-pass-12"},
    )
    assert done.status_code == 302
    assert client.get("/").status_code == 200  # this login goes on
    assert elsewhere.get("/").status_code == 302  # the other one ends
    with site.register.session() as s:
        assert service.authenticate(s, "sales", "new-pass-12") is not None
