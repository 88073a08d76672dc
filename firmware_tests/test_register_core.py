"""The register through its service (hostlib.register.service), on SQLite and on a real
PostgreSQL server (the `register_url` fixture runs each test on both): a merchant from the
application form to an installed, trained terminal; every rule refused with its message;
the audit trail; the migrations from an empty database to the newest schema."""

import datetime
import json

import pytest
from registerbench import PROFILE, application, approve, open_with_users, ready_to_install
from sqlalchemy import select, text

from hostlib import jobs
from hostlib.register import Conflict, Forbidden, Invalid, NotFound, RegisterError, auth, db
from hostlib.register import service as sv
from hostlib.register.models import Audit, Base, Merchant, TerminalApp

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 100


@pytest.fixture
def reg(register_url):
    register, people = open_with_users(register_url)
    yield register, people
    register.close()


def _merchant(register, people, **changes):
    sales = people["sales"]
    with register.transaction(sales) as s:
        return sv.create_merchant(s, sales, application(**changes)).id


def _approved_with_terminal(
    register, people, serial="PK-000777", mid="898310048161234", merchant_id=None
):
    """An approved merchant (`merchant_id`, else a new one) with a profile, a work order for
    `installer` and its terminal's application 1: ready for job_toml."""
    if merchant_id is None:
        merchant_id = _merchant(register, people)
        approve(register, people, merchant_id)
    order_id = ready_to_install(register, people, merchant_id, serial=serial, mid=mid)
    return merchant_id, order_id


def _record(serial="PK-000777", mid="898310048161234", tid="10012345", name="某某商贸"):
    """An install.json as poskit install writes it (the parts the register reads)."""
    return {
        "format": "poskit-install-record/1",
        "status": "complete",
        "job": {"reference": "WO-000001", "serial": serial, "version": 1},
        "terminal": {
            "serial": serial,
            "model": "poskit-ref-esp32",
            "iccid": "89860012345678901234",
            "pinpad_serial": "PP-00042",
            "key_check_values": {"app1 TMK slot 1": "A1B2C3"},
        },
        "applications": [
            {
                "index": 1,
                "name": "CUP",
                "expected": {"merchant_id": mid, "terminal_id": tid, "merchant_name": name},
                "terminal": {"merchant_id": mid, "terminal_id": tid, "merchant_name": name},
                "tests": [
                    {"kind": "sale", "slips": [["MERCHANT NAME:", name, "AMOUNT: RMB 0.01"]]}
                ],
            }
        ],
    }


# --- migrations ------------------------------------------------------------------------------


def test_migrations_make_from_empty_the_schema_the_models_describe(register_url):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with pytest.raises(RegisterError, match="not a register yet: run poskit register init"):
        db.open(register_url)
    assert db.upgrade(register_url) == (None, db.head())
    assert db.at_head(register_url)
    assert db.upgrade(register_url) == (db.head(), db.head())  # again: nothing to do
    engine = db.engine_for(register_url)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []
    # a register of an older poskit is refused until upgraded
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    engine.dispose()
    with pytest.raises(RegisterError, match="run poskit register upgrade"):
        db.open(register_url)


def test_a_url_that_is_no_register_is_one_line():
    with pytest.raises(RegisterError, match="not a database URL"):
        db.open("not a url")
    with pytest.raises(RegisterError, match="SQLite .* or PostgreSQL"):
        db.open("mysql://u:secret@h/d")


# --- the whole pipeline ----------------------------------------------------------------------


def test_a_merchant_goes_from_application_to_trained(reg):
    register, people = reg
    sales, reviewer, installer = people["sales"], people["reviewer"], people["installer"]
    merchant_id = _merchant(register, people)
    with register.transaction(sales) as s:
        document = sv.add_document(
            s, sales, merchant_id, "licence_copy", "C:\\scan\\执照.png", PNG
        )
        assert (document.content_type, document.filename) == ("image/png", "执照.png")
        m = sv.get_merchant(s, sales, "SH-2026-0001")
        assert (m.terminal_price, str(m.fee_rate), m.stage) == (29900, "0.600", "applied")
        assert m.salesperson.staff_id == "S0042"

    stages = []
    for step, outcome, party in (
        ("phone", "pass", ""),
        ("site", "pass", ""),
        ("submission", "", "中国银联上海分公司"),
        ("decision", "approved", ""),
    ):
        with register.transaction(reviewer) as s:
            sv.record_review(s, reviewer, merchant_id, step, outcome, "ok", party=party)
            stages.append(sv.get_merchant(s, reviewer, merchant_id).stage)
    assert stages == ["phone_checked", "site_checked", "submitted", "approved"]

    _, order_id = _approved_with_terminal(register, people, merchant_id=merchant_id)
    with register.transaction(installer) as s:
        (order,) = sv.work_orders(s, installer)
        assert order.id == order_id and order.merchant.stage == "work_order"
        job = jobs.loads(sv.job_toml(s, installer, order_id), "wo.toml")
    assert job.serial == "PK-000777" and job.reference == "WO-%06d" % order_id
    assert job.applications[1]["merchant_id"] == "898310048161234"
    assert job.applications[1]["terminal_id"] == "10012345"
    assert job.applications[1]["merchant_name"] == "某某商贸"
    assert job.terminal["dialup.line"] == "extension" and job.terminal["dialup.prefix"] == "9"
    assert job.merchant["contract_no"] == "SH-2026-0001"

    record = _record()
    with register.transaction(installer) as s:
        install = sv.record_install(s, installer, order_id, record, "<html>record</html>")
        assert install.outcome == "passed"
    with register.transaction(installer) as s:
        terminal = sv.get_terminal(s, installer, "PK-000777")
        assert (terminal.model, terminal.iccid, terminal.pinpad_serial) == (
            "poskit-ref-esp32",
            "89860012345678901234",
            "PP-00042",
        )
        assert [(a.mid, a.tid) for a in terminal.apps] == [("898310048161234", "10012345")]
        order = sv.get_work_order(s, installer, order_id)
        assert order.status == "installed" and order.merchant.stage == "installed"
        assert "AMOUNT: RMB 0.01" in install.slips
        items = {item: True for item in ("sign_on", "sale", "void", "pre_auth", "refund")}
        sv.record_training(s, installer, order.merchant_id, items, "张经理")
        assert order.merchant.stage == "installed"  # not every item yet
        items.update(settlement=True, paper_loading=True, paper_jam=True, near_end=True)
        sv.record_training(s, installer, order.merchant_id, items, "张经理")
        assert order.merchant.stage == "trained"
        visit = sv.record_visit(s, installer, "PK-000777", {"reason": "卡纸", "action": "换纸"})
        assert visit.merchant_id == order.merchant_id
    with register.session() as s:
        admin = people["admin"]
        by_stage = sv.pipeline(s, admin)
        assert list(by_stage) == list(sv.STAGES)
        assert [m.contract_no for m in by_stage["trained"]] == ["SH-2026-0001"]
        assert [m.contract_no for m in sv.merchants(s, admin, search="某某")] == ["SH-2026-0001"]


# --- rules -----------------------------------------------------------------------------------


def test_roles_salesperson_cannot_approve_installer_sees_only_their_own(reg):
    register, people = reg
    sales, sales2 = people["sales"], people["sales2"]
    merchant_id = _merchant(register, people)
    with register.transaction(sales) as s, pytest.raises(Forbidden) as refused:
        sv.record_review(s, sales, merchant_id, "decision", "approved")
    assert str(refused.value) == "a salesperson cannot record a review or a decision"
    with register.transaction(sales2) as s:
        with pytest.raises(Forbidden, match="merchant SH-2026-0001 is not one of yours"):
            sv.get_merchant(s, sales2, "SH-2026-0001")
        assert sv.merchants(s, sales2) == []
        with pytest.raises(Forbidden, match="merchant 1 is not one of yours"):
            sv.update_merchant(s, sales2, merchant_id, {"contact": "x"})
    with register.transaction(sales) as s, pytest.raises(NotFound, match="no merchant 99"):
        sv.get_merchant(s, sales, 99)

    approve(register, people, merchant_id)
    _, order_id = _approved_with_terminal(register, people, merchant_id=merchant_id)
    other = people["installer2"]
    with register.transaction(other) as s:
        assert sv.work_orders(s, other) == []
        assert sv.merchants(s, other) == []
        with pytest.raises(Forbidden, match="work order %d is another installer's" % order_id):
            sv.job_toml(s, other, order_id)
        with pytest.raises(Forbidden, match="terminal PK-000777 is not at one of your merchants"):
            sv.get_terminal(s, other, "PK-000777")
        with pytest.raises(Forbidden, match="an installer cannot make a work order"):
            sv.create_work_order(s, other, merchant_id, {})
    installer = people["installer"]
    with register.transaction(installer) as s:
        with pytest.raises(Forbidden, match="an installer changes only the spot's details"):
            sv.update_work_order(s, installer, order_id, {"installer": "zhao.lei"})
        sv.update_work_order(s, installer, order_id, {"line": "direct"})
        with pytest.raises(Forbidden, match="an installer cannot read the audit trail"):
            sv.audit(s, installer)
    with register.transaction(sales) as s, pytest.raises(Forbidden, match="cannot add users"):
        sv.add_user(s, sales, "new.one", "新人", "admin", "long enough")


def test_only_an_approved_merchant_gets_a_work_order_and_approval_needs_the_checks(reg):
    register, people = reg
    reviewer = people["reviewer"]
    merchant_id = _merchant(register, people)
    with register.transaction(reviewer) as s:
        with pytest.raises(Conflict, match="merchant 1 is at stage applied: only an approved"):
            sv.create_work_order(s, reviewer, merchant_id, {})
        with pytest.raises(Conflict, match="submitted once its phone and site checks"):
            sv.record_review(s, reviewer, merchant_id, "submission", "", party="银联")
        with pytest.raises(Conflict, match="record the submission first"):
            sv.record_review(s, reviewer, merchant_id, "decision", "approved")
        with pytest.raises(Invalid, match="findings: say what the site check found"):
            sv.record_review(s, reviewer, merchant_id, "site", "fail")
        sv.record_review(s, reviewer, merchant_id, "phone", "pass")
        sv.record_review(s, reviewer, merchant_id, "site", "fail", "门头与执照不符")
        # a failed check stays on record; the merchant does not move on
        assert sv.get_merchant(s, reviewer, merchant_id).stage == "phone_checked"
        with pytest.raises(Conflict, match="MID"):
            sv.set_mid(s, reviewer, merchant_id, "898310048161234")
        sv.record_review(s, reviewer, merchant_id, "site", "pass", "整改后一致")
        sv.record_review(s, reviewer, merchant_id, "submission", "中国银联")
        sv.record_review(s, reviewer, merchant_id, "decision", "declined", decided_on="2026-12-03")
        m = sv.get_merchant(s, reviewer, merchant_id)
        assert m.stage == "declined" and m.reviews[-1].decided_on == datetime.date(2026, 12, 3)
        assert m.reviews[-1].party == "中国银联"
        with pytest.raises(Conflict, match="is at stage declined: only an approved merchant"):
            sv.create_work_order(s, reviewer, merchant_id, {})


def test_a_terminal_belongs_to_one_merchant_at_a_time_and_the_audit_shows_the_move(reg):
    register, people = reg
    reviewer, admin = people["reviewer"], people["admin"]
    first, order_id = _approved_with_terminal(register, people)
    second = _merchant(register, people, contract_no="SH-2026-0002", slip_name="二号店")
    approve(register, people, second)
    with register.transaction(reviewer) as s:
        with pytest.raises(Conflict) as refused:
            sv.assign_terminal(s, reviewer, "PK-000777", second)
        assert str(refused.value) == (
            "terminal PK-000777 belongs to merchant 1 (上海某某商贸有限公司): release it from "
            "that merchant first"
        )
        with pytest.raises(Conflict, match="work order %d .open. is to install" % order_id):
            sv.release_terminal(s, reviewer, "PK-000777")
        sv.update_work_order(s, reviewer, order_id, {"status": "cancelled"})
        assert sv.get_merchant(s, reviewer, first).stage == "approved"
    with register.transaction(reviewer) as s:
        sv.release_terminal(s, reviewer, "PK-000777")
        sv.assign_terminal(s, reviewer, "PK-000777", second)
    with register.session() as s:
        moves = [
            (a.action, a.before, a.after, a.username)
            for a in sv.audit(s, admin, table="terminals")
            if a.action == "update"
        ]
        assert moves[-2:] == [
            ("update", {"merchant_id": first}, {"merchant_id": None}, "chen.jie"),
            ("update", {"merchant_id": None}, {"merchant_id": second}, "chen.jie"),
        ]
        # its application (MID/TID) went with the first merchant: deleted, and audited
        (gone,) = [a for a in sv.audit(s, admin, table="terminal_apps") if a.action == "delete"]
        assert gone.before["tid"] == "10012345" and gone.after is None


def test_a_mid_tid_pair_is_one_applications_by_the_service_and_by_the_database(reg):
    register, people = reg
    reviewer = people["reviewer"]
    _approved_with_terminal(register, people)
    with register.transaction(reviewer) as s:
        sv.add_terminal(s, reviewer, {"serial": "PK-000778", "merchant": 1, "model": "ref"})
        with pytest.raises(Conflict) as refused:
            sv.add_terminal_app(
                s, reviewer, "PK-000778", 1, "CUP", "898310048161234", "10012345", "某某"
            )
        assert str(refused.value) == (
            "MID 898310048161234 TID 10012345 is already application 1 of terminal PK-000777"
        )
        with pytest.raises(Invalid, match="serial: terminal PK-000778 is already"):
            sv.add_terminal(s, reviewer, {"serial": "PK-000778"})
    # the database itself refuses it too, whatever writes the row
    with pytest.raises(RegisterError, match="the register refused the change"):
        with register.transaction(reviewer) as s:
            s.add(
                TerminalApp(
                    terminal_id=2,
                    app_index=1,
                    acquirer="X",
                    mid="898310048161234",
                    tid="10012345",
                    slip_name="x",
                )
            )
    with register.session() as s:
        assert len(s.scalars(select(TerminalApp)).all()) == 1


def test_each_field_is_checked_with_its_message(reg):
    register, people = reg
    sales = people["sales"]
    bad = application(
        contract_no="",
        slip_name="一二三四五六七八九十一二三四五六七八九十一",
        phone="call me",
        terminal_price="2.999",
        fee_rate="6",
        channel="referral",
        mid="89831004816123",
        colour="red",
    )
    with register.transaction(sales) as s, pytest.raises(Invalid) as refused:
        sv.create_merchant(s, sales, bad)
    assert refused.value.errors == {
        "colour": "not a field of the application form",
        "contract_no": "required",
        "slip_name": "is 42 bytes in GB18030; the slip takes at most 40 (20 Chinese characters)",
        "phone": "must be a phone number: 7 to 15 digits, with spaces, - or ( ) between",
        "terminal_price": "a price in yuan, e.g. 299.00 (at most two decimals)",
        "fee_rate": "must be above 0 and at most 5 (percent)",
        "referrer": "a referral names the referring merchant",
        "mid": "must be 15 digits",
    }
    with register.transaction(sales) as s, pytest.raises(Invalid) as refused:
        sv.create_merchant(
            s, sales, application(slip_name="好店😀", channel="online", referrer="x")
        )
    assert (
        refused.value.errors
        == {
            "slip_name": "has characters the slip cannot print (not in GB18030)",
            "referrer": "only a referral names a referring merchant",
        }
        or "slip_name" in refused.value.errors
    )
    first = _merchant(register, people)
    with register.transaction(sales) as s:
        with pytest.raises(Invalid, match="contract_no: SH-2026-0001 is already merchant 1's"):
            sv.create_merchant(s, sales, application())
        referred = sv.create_merchant(
            s,
            sales,
            application(contract_no="SH-2026-0009", channel="referral", referrer="SH-2026-0001"),
        )
        assert referred.referrer_id == first
        with pytest.raises(Invalid, match="file: not a PDF, JPEG or PNG file"):
            sv.add_document(s, sales, first, "photo_sign", "sign.png", b"GIF89a....")
        with pytest.raises(Invalid, match="file: 5.0 MB; at most 5 MB"):
            sv.add_document(
                s, sales, first, "photo_sign", "big.pdf", b"%PDF-" + b"0" * 5 * 1024 * 1024
            )
    reviewer = people["reviewer"]
    approve(register, people, first)
    with register.transaction(reviewer) as s, pytest.raises(Invalid) as refused:
        sv.create_work_order(
            s,
            reviewer,
            first,
            {
                "installer": "li.na",
                "appointment_at": "tomorrow",
                "place": "店里",
                "kind": "mobile",
                "signal_readings": "counter=18, door=40",
                "chosen_spot": "door",
            },
        )
    assert refused.value.errors == {
        "appointment_at": "a date and time, YYYY-MM-DD HH:MM",
        "signal_readings": "CSQ is a number 0 to 31 (99: no signal)",
        "installer": "no active installer li.na",
    }
    with register.transaction(reviewer) as s, pytest.raises(Invalid) as refused:
        sv.create_work_order(
            s, reviewer, first,
            {"installer": "wang.li", "appointment_at": "2026-12-10 09:00", "place": "店里",
             "kind": "desktop", "line": "extension"},
        )  # fmt: skip
    assert refused.value.errors == {"outside_prefix": "an extension needs its outside-line number"}


def test_no_clear_key_enters_the_register(reg):
    register, people = reg
    admin = people["admin"]
    with register.transaction(admin) as s:
        with pytest.raises(Invalid) as refused:
            sv.add_profile(
                s, admin, "leaky", PROFILE + 'tmk = "70F2A84CCBC2AE8625CBB0F2C22AB923"\n'
            )
        assert "may carry a clear key at application[1].tmk: no key enters the register" in str(
            refused.value
        )
        with pytest.raises(Invalid, match="merchant_id come from the register"):
            sv.add_profile(s, admin, "mid", PROFILE + 'merchant_id = "898310048161234"\n')
        with pytest.raises(Invalid, match="tmk_slto: no such application 1 parameter; did you"):
            sv.add_profile(s, admin, "typo", PROFILE + "tmk_slto = 1\n")
        sv.add_profile(s, admin, "fine", PROFILE)  # check values and slots are fine
    _, order_id = _approved_with_terminal(register, people)
    record = _record()
    record["terminal"]["kbpk"] = "0123456789ABCDEFFEDCBA9876543210"
    installer = people["installer"]
    with register.transaction(installer) as s, pytest.raises(Invalid) as refused:
        sv.record_install(s, installer, order_id, record, "")
    assert "record: may carry a clear key at terminal.kbpk" in str(refused.value)


def test_job_files_are_checked_against_the_register(reg):
    register, people = reg
    _, order_id = _approved_with_terminal(register, people)
    installer = people["installer"]
    with register.transaction(installer) as s:
        text_ = sv.job_toml(s, installer, order_id)
    with register.session() as s:
        sv.check_job(s, jobs.loads(text_, "job.toml"))  # the register's own job agrees
        wrong = jobs.loads(text_.replace('"10012345"', '"10012399"'), "job.toml")
        with pytest.raises(Conflict) as refused:
            sv.check_job(s, wrong)
        assert str(refused.value) == (
            "job.toml: application 1's TID is '10012399', the register's '10012345' "
            "(terminal PK-000777, merchant SH-2026-0001)"
        )
        renamed = jobs.loads(text_.replace('"某某商贸"', '"别的店"'), "job.toml")
        with pytest.raises(Conflict, match="merchant name is '别的店', the register's '某某商贸'"):
            sv.check_job(s, renamed)
        elsewhere = jobs.loads(text_.replace('"PK-000777"', '"PK-000999"'), "job.toml")
        with pytest.raises(Conflict, match="TID 10012345 is terminal PK-000777's in the register"):
            sv.check_job(s, elsewhere)


def test_a_cancelled_or_installed_work_order_gives_no_job(reg):
    register, people = reg
    _, order_id = _approved_with_terminal(register, people)
    installer, reviewer = people["installer"], people["reviewer"]
    with register.transaction(installer) as s:
        sv.record_install(s, installer, order_id, _record(), "")
    with register.transaction(installer) as s:
        with pytest.raises(
            Conflict, match="work order %d is installed: there is nothing" % order_id
        ):
            sv.job_toml(s, installer, order_id)
        with pytest.raises(Conflict, match="is installed already"):
            sv.record_install(s, installer, order_id, _record(), "")
    with register.transaction(reviewer) as s, pytest.raises(Conflict, match="changes no more"):
        sv.update_work_order(s, reviewer, order_id, {"status": "cancelled"})


# --- transactions and the audit trail --------------------------------------------------------


def test_an_interrupted_write_loses_nothing_and_leaves_nothing(reg):
    register, people = reg
    sales = people["sales"]
    with pytest.raises(RuntimeError), register.transaction(sales) as s:
        sv.create_merchant(s, sales, application())
        raise RuntimeError("the process is killed here")
    with register.session() as s:
        assert s.scalars(select(Merchant)).all() == []
        assert [a for a in s.scalars(select(Audit)) if a.table == "merchants"] == []
    merchant_id = _merchant(register, people)
    # a rule refused half-way through an operation takes back what the operation did first
    with pytest.raises(RegisterError), register.transaction(sales) as s:
        sv.update_merchant(s, sales, merchant_id, {"contact": "李四"})
        s.execute(text("INSERT INTO merchants (contract_no) VALUES ('broken')"))
    with register.session() as s:
        assert s.get(Merchant, merchant_id).contact == "张经理"


def test_the_audit_trail_has_who_when_before_after_and_no_secret(reg):
    register, people = reg
    sales, admin = people["sales"], people["admin"]
    merchant_id = _merchant(register, people)
    with register.transaction(sales) as s:
        sv.update_merchant(s, sales, merchant_id, {"phone": "021-5555-0199", "fee_rate": "0.55"})
        sv.add_document(s, sales, merchant_id, "photo_sign", "sign.png", PNG)
    with register.transaction(admin) as s:
        sv.add_user(s, admin, "new.one", "新人", "installer", "a long password", "I0200")
    with register.session() as s:
        trail = sv.audit(s, admin)
        inserted = [a for a in trail if a.table == "merchants" and a.action == "insert"][0]
        assert inserted.username == "li.na" and inserted.user_id == sales.id
        assert inserted.row_id == merchant_id
        assert inserted.after["contract_no"] == "SH-2026-0001" and inserted.before is None
        changed = [a for a in sv.audit(s, admin, "merchants", merchant_id) if a.action == "update"]
        assert (changed[0].before, changed[0].after) == (
            {"phone": "021-5555-0123", "fee_rate": "0.600"},
            {"phone": "021-5555-0199", "fee_rate": "0.550"},
        )
        assert abs(
            changed[0].at - datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
        ) < datetime.timedelta(minutes=5)
        document = [a for a in trail if a.table == "documents"][0]
        assert "data" not in document.after and len(document.after["sha256"]) == 64
        user = [a for a in trail if a.table == "users" and a.after["username"] == "new.one"][0]
        assert user.username == "admin"
        everything = json.dumps([(a.before, a.after) for a in trail], ensure_ascii=False)
        assert "scrypt$" not in everything and "PNG" not in everything


# --- users -----------------------------------------------------------------------------------


def test_passwords_are_scrypt_hashes_and_logins_check_them(reg):
    register, people = reg
    stored = auth.hash_password("correct horse")
    scheme, n, r, p, salt, digest = stored.split("$")
    assert (scheme, n, r, p, len(salt), len(digest)) == ("scrypt", "16384", "8", "1", 32, 64)
    assert stored != auth.hash_password("correct horse")  # a salt each
    assert auth.verify_password("correct horse", stored)
    assert not auth.verify_password("correct horsE", stored)
    assert not auth.verify_password("x", "md5$abc")
    admin = people["admin"]
    with register.transaction(admin) as s:
        sv.add_user(s, admin, "new.one", "新人", "reviewer", "a long password")
        with pytest.raises(Invalid) as refused:
            sv.add_user(s, admin, "New One", "", "boss", "short")
        assert refused.value.errors == {
            "username": "2 to 32 of a-z, 0-9, '.', '_' and '-', beginning with a letter or digit",
            "password": "at least 8 characters",
            "name": "required, at most 100 characters",
            "role": "one of salesperson, reviewer, installer, admin",
        }
    with register.transaction(admin) as s:
        assert sv.authenticate(s, "new.one", "a long password").role == "reviewer"
        assert sv.authenticate(s, "new.one", "a long passworD") is None
        assert sv.authenticate(s, "nobody", "a long password") is None
        sv.set_active(s, admin, "new.one", False)
    with register.transaction(admin) as s:
        assert sv.authenticate(s, "new.one", "a long password") is None


def test_a_failed_install_is_kept_and_leaves_the_work_order_open(reg):
    register, people = reg
    _, order_id = _approved_with_terminal(register, people)
    installer = people["installer"]
    record = _record(tid="10012399")  # what a half-done run may have found: not taken
    record["status"] = "incomplete"
    with register.transaction(installer) as s:
        install = sv.record_install(s, installer, order_id, record, "")
        assert install.outcome == "failed"
    with register.session() as s:
        order = sv.get_work_order(s, installer, order_id)
        assert order.status == "open" and order.merchant.stage == "work_order"
        assert [a.tid for a in order.terminal.apps] == ["10012345"]
        assert [i.outcome for i in order.installs] == ["failed"]
        sv.job_toml(s, installer, order_id)  # the same job, for the run that goes on
