"""Set-up shared by the register's tests: a register made at a URL with one user of each
role, an application form, an acquirer profile, and a merchant walked to approval.

    register, people = open_with_users(url)          # people["reviewer"] is a User
    with register.transaction(people["sales"]) as s:
        m = service.create_merchant(s, people["sales"], application())
    approve(register, people, m.id)                  # phone, site, submission, decision
    order_id = ready_to_install(register, people, m.id)   # MID, profile, work order, TID
"""

from pathlib import Path

from hostlib.register import auth, db, service
from hostlib.register.models import User

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"
PASSWORD = "correct horse 1"
# One hash for every test user: scrypt's cost is the point of it, not worth paying per user.
_HASH = auth.hash_password(PASSWORD)
USERS = (
    # key, username, name, role, staff id
    ("admin", "admin", "系统管理员", "admin", "A0001"),
    ("sales", "li.na", "李娜", "salesperson", "S0042"),
    ("sales2", "zhou.qi", "周琦", "salesperson", "S0043"),
    ("reviewer", "chen.jie", "陈杰", "reviewer", "R0007"),
    ("installer", "wang.li", "王力", "installer", "I0101"),
    ("installer2", "zhao.lei", "赵磊", "installer", "I0102"),
)

# The acquirer profile of the documents: CUP over Ethernet, a dial-up line beside it.
PROFILE = (EXAMPLES / "acquirer-profile.toml").read_text(encoding="utf-8")
# The application form of the documents, as a salesperson enters it.
FORM = (EXAMPLES / "merchant-application.toml").read_text(encoding="utf-8")


def open_with_users(url: str):
    """A new register at `url` (its schema made), with one user of each role."""
    db.upgrade(url)
    register = db.open(url)
    people = {}
    with register.transaction(None) as s:
        for key, username, name, role, staff_id in USERS:
            user = User(
                username=username, name=name, role=role, staff_id=staff_id, password_hash=_HASH
            )
            s.add(user)
            people[key] = user
    return register, people


def application(**changes) -> dict:
    """An application form's fields, as a salesperson enters them."""
    fields = {
        "contract_no": "SH-2026-0001",
        "company_name": "上海某某商贸有限公司",
        "slip_name": "某某商贸",
        "address": "上海市浦东新区某某路88号1楼",
        "contact": "张经理",
        "phone": "021-5555-0123",
        "terminal_price": "299.00",
        "fee_rate": "0.60",
        "install_location": "收银台",
        "install_date": "2026-12-10",
        "signing_date": "2026-12-01",
        "channel": "cold_visit",
    }
    fields.update(changes)
    return fields


def approve(register, people, merchant_id: int, party: str = "中国银联上海分公司") -> None:
    reviewer = people["reviewer"]
    with register.transaction(reviewer) as s:
        service.record_review(s, reviewer, merchant_id, "phone", "pass", "老板本人确认")
        service.record_review(s, reviewer, merchant_id, "site", "pass", "门头、收银台与执照一致")
        service.record_review(s, reviewer, merchant_id, "submission", "", party=party)
        service.record_review(s, reviewer, merchant_id, "decision", "approved")


def ready_to_install(
    register,
    people,
    merchant_id: int,
    *,
    serial: str = "PK-000777",
    mid: str = "898310048161234",
    tid: str = "10012345",
    slip_name: str = "某某商贸",
    profile: str = PROFILE,
) -> int:
    """An approved merchant's MID set, the acquirer profile "cup" (added once), a work order
    for wang.li to install `serial` on an extension line, and the terminal's application 1;
    the work order's id."""
    admin, reviewer = people["admin"], people["reviewer"]
    with register.transaction(admin) as s:
        if "cup" not in [p.name for p in service.profiles(s, admin)]:
            service.add_profile(s, admin, "cup", profile)
    with register.transaction(reviewer) as s:
        service.set_mid(s, reviewer, merchant_id, mid)
        order = service.create_work_order(
            s,
            reviewer,
            merchant_id,
            {
                "installer": "wang.li",
                "appointment_at": "2026-12-10 09:30",
                "place": "上海市浦东新区某某路88号1楼 收银台",
                "requirements_confirmed": True,
                "deposit_collected": "yes",
                "kind": "desktop",
                "line": "extension",
                "outside_prefix": "9",
                "power_position": "收银台下左侧插座",
                "line_position": "墙上电话口",
                "profile": "cup",
                "serial": serial,
            },
        )
        service.add_terminal_app(s, reviewer, serial, 1, "CUP", mid, tid, slip_name)
    return order.id
