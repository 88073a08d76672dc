"""`poskit register` as a script uses it: a merchant from the application file to the job of
its work order and the acquirer's export, each command acting as a user of the register with
the password from the environment; every refusal one line, never a traceback."""

import csv
import io
import json
import subprocess
import tomllib

import pytest
from registerbench import FORM, PROFILE

from hostlib import jobs
from tools import cli
from tools.demo import _POSKIT, ROOT

ADMIN_PASSWORD = "admin password 1"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


@pytest.fixture
def script(tmp_path, monkeypatch, capsys):
    """run(user, *argv) -> (status, stdout, stderr) of `poskit register ARGV` as `user`, on
    a register in tmp_path made by `poskit register init`."""
    monkeypatch.setenv("POSKIT_REGISTER", "sqlite:///%s" % (tmp_path / "register.db"))
    monkeypatch.delenv("POSKIT_REGISTER_USER", raising=False)
    monkeypatch.chdir(tmp_path)
    passwords = {"admin": ADMIN_PASSWORD}

    def run(user, *argv):
        if user is not None:
            monkeypatch.setenv("POSKIT_REGISTER_PASSWORD", passwords.get(user, user + " pass"))
            argv = argv + ("--user", user)
        status = cli.main(["register", *argv])
        out = capsys.readouterr()
        return status, out.out, out.err

    monkeypatch.setenv("POSKIT_REGISTER_PASSWORD", ADMIN_PASSWORD)
    status, out, err = run(None, "init")
    assert status == 0, err
    for name, role, staff in (
        ("li.na", "salesperson", "S0042"),
        ("chen.jie", "reviewer", "R0007"),
        ("wang.li", "installer", "I0101"),
    ):
        # the new user's password from a file only its owner reads, not from argv
        secret = tmp_path / ("%s.password" % name)
        secret.write_text(name + " pass\n")
        secret.chmod(0o600)
        status, out, err = run(
            "admin", "user", "add", name, "--name", name, "--role", role, "--staff-id", staff,
            "--new-password-file", str(secret),
        )  # fmt: skip
        assert status == 0, err
    return run


def test_init_makes_the_register_and_its_administrator_once(script, tmp_path):
    status, out, err = script(None, "init")
    assert (status, err) == (0, "")
    assert out.splitlines() == [
        "register sqlite:///%s: schema 0001, up to date" % (tmp_path / "register.db"),
        "it has 4 user(s): no administrator made",
    ]
    status, out, _ = script("admin", "user", "list")
    assert out.splitlines()[0].split() == ["admin", "admin", "-", "Administrator"]
    assert "li.na            salesperson  S0042    li.na" in out


def test_a_merchant_from_its_application_file_to_the_job_and_the_export(script, tmp_path):
    (tmp_path / "form.toml").write_text(FORM, encoding="utf-8")
    (tmp_path / "sign.png").write_bytes(PNG)
    (tmp_path / "profile.toml").write_text(PROFILE, encoding="utf-8")
    steps = [
        ("li.na", ["add", "form.toml", "--document", "photo_sign=sign.png"],
         "merchant 1 SH-2026-0001 上海某某商贸有限公司: applied"),
        ("li.na", ["update", "SH-2026-0001", "--set", "remarks=周末安装"],
         "merchant 1 SH-2026-0001 changed"),
        ("chen.jie", ["review", "1", "phone", "pass", "--findings", "老板本人确认"],
         "merchant 1 SH-2026-0001: phone_checked"),
        ("chen.jie", ["review", "1", "site", "pass"], "merchant 1 SH-2026-0001: site_checked"),
        ("chen.jie", ["review", "1", "submission", "--party", "中国银联上海分公司"],
         "merchant 1 SH-2026-0001: submitted"),
        ("chen.jie", ["approve", "1", "--on", "2026-12-05"], "merchant 1 SH-2026-0001: approved"),
        ("chen.jie", ["set-mid", "1", "898310048161234"],
         "merchant 1 SH-2026-0001: MID 898310048161234"),
        ("admin", ["profile", "add", "cup", "profile.toml"], "acquirer profile 'cup' added"),
        ("chen.jie", ["work-order", "add", "SH-2026-0001", "--installer", "wang.li",
                      "--at", "2026-12-10 09:30", "--place", "收银台", "--kind", "mobile",
                      "--signal", "收银台=18,门口=25", "--spot", "门口", "--profile", "cup",
                      "--serial", "PK-000777", "--deposit-collected"],
         "work order 1 for merchant 1 SH-2026-0001: wang.li, 2026-12-10 09:30"),
        ("chen.jie", ["terminal", "app", "PK-000777", "1", "--acquirer", "CUP",
                      "--mid", "898310048161234", "--tid", "10012345", "--slip-name", "某某商贸"],
         "terminal PK-000777 application 1: CUP MID 898310048161234 TID 10012345 某某商贸"),
    ]  # fmt: skip
    for user, argv, said in steps:
        status, out, err = script(user, *argv)
        assert (status, out.strip(), err) == (0, said, ""), argv

    status, out, err = script("wang.li", "job", "1")
    assert status == 0, err
    job = jobs.loads(out, "wo1.toml")
    assert (job.serial, job.reference) == ("PK-000777", "WO-000001")
    assert job.applications[1]["terminal_id"] == "10012345"
    status, out, err = script("wang.li", "job", "1", "-o", "wo1.toml")
    assert jobs.load(tmp_path / "wo1.toml").applications == job.applications

    status, out, _ = script("wang.li", "show", "--work-order", "1")
    assert "  spot           mobile, signal 收银台=18, 门口=25; chosen: 门口" in out
    assert "  confirmed      requirements not confirmed, deposit collected" in out
    status, out, _ = script("chen.jie", "show", "SH-2026-0001")
    assert "  MID            898310048161234" in out
    assert "  remarks        周末安装" in out
    assert "phone pass by chen.jie: 老板本人确认" in out
    assert " decision approved on 2026-12-05 by chen.jie" in out
    assert "1 photo_sign sign.png (image/png, 72 bytes, sha256 " in out
    status, out, err = script(
        "wang.li", "visit", "PK-000777", "--reason", "卡纸", "--action", "重新装纸"
    )
    assert (status, out, err) == (0, "visit 1 to terminal PK-000777 recorded\n", "")
    status, out, _ = script("wang.li", "show", "--terminal", "pk-000777")
    assert "  applications   1 CUP MID 898310048161234 TID 10012345 某某商贸" in out
    assert " by wang.li: 卡纸; done: 重新装纸" in out

    status, out, err = script("chen.jie", "export", "--format", "csv", "-o", "acquirer.csv")
    assert (status, err.strip()) == (0, "the CSV export written to acquirer.csv")
    raw = (tmp_path / "acquirer.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # a spreadsheet reads it as UTF-8
    (row,) = csv.DictReader(io.StringIO(raw.decode("utf-8-sig")))
    assert (row["contract_no"], row["mid"], row["serial"], row["tid"], row["stage"]) == (
        "SH-2026-0001", "898310048161234", "PK-000777", "10012345", "work_order",
    )  # fmt: skip
    status, out, _ = script("chen.jie", "export", "--format", "json")
    (merchant,) = json.loads(out)["merchants"]
    assert merchant["terminals"][0]["applications"][0]["tid"] == "10012345"
    assert merchant["fee_rate"] == "0.600" and merchant["terminal_price"] == "299.00"

    status, out, _ = script("admin", "audit", "--table", "merchants", "--row", "1")
    lines = out.splitlines()
    assert " li.na      insert merchants 1 - -> {" in lines[0]
    assert any(' chen.jie   update merchants 1 {"mid": null} -> {"mid": "898310048161234"}' in line
               for line in lines)  # fmt: skip


def test_every_refusal_is_one_line(script, tmp_path):
    (tmp_path / "form.toml").write_text(FORM, encoding="utf-8")
    (tmp_path / "bad.toml").write_text("contract_no = \n", encoding="utf-8")
    assert script("li.na", "add", "form.toml")[0] == 0
    for user, argv, said in (
        ("li.na", ["approve", "1"], "poskit: a salesperson cannot record a review or a decision"),
        ("li.na", ["add", "form.toml", "--set", "fee_rate=9", "--set", "contract_no=X-2"],
         "poskit: fee_rate: must be above 0 and at most 5 (percent)"),
        ("li.na", ["add", "bad.toml"], "poskit: bad.toml: not valid TOML: "
         "Invalid value (at line 1, column 15)"),
        ("li.na", ["add", "nowhere.toml"], "poskit: cannot read nowhere.toml: "
         "No such file or directory"),
        ("wang.li", ["show", "1"], "poskit: merchant 1 is not one of yours"),
        ("chen.jie", ["work-order", "add", "1", "--installer", "wang.li"],
         "poskit: merchant 1 is at stage applied: only an approved merchant gets a work order"),
        ("chen.jie", ["terminal", "release", "PK-1"], "poskit: no terminal PK-1 in the register"),
        ("nobody", ["list"], "poskit: wrong user name or password for nobody (or the user is "
         "disabled)"),
        (None, ["list"], "poskit: who is acting? give --user NAME (or set "
         "$POSKIT_REGISTER_USER): the register acts only for its users"),
        ("li.na", ["list", "--db", "sqlite:///%s" % (tmp_path / "form.toml")],
         "poskit: cannot use the register sqlite:///%s: file is not a database"
         % (tmp_path / "form.toml")),
        ("li.na", ["list", "--db", "sqlite:////proc/none/register.db"],
         "poskit: cannot make the register's folder /proc/none: No such file or directory"),
        ("li.na", ["list", "--db", "sqlite:///%s" % (tmp_path / "empty.db")],
         "poskit: sqlite:///%s is not a register yet: run poskit register init (or upgrade)"
         % (tmp_path / "empty.db")),
    ):  # fmt: skip
        status, out, err = script(user, *argv)
        assert (status, err) == (1, said + "\n"), argv


def test_a_password_is_never_taken_from_the_command_line_and_no_traceback_reaches_a_user(
    tmp_path,
):
    url = "sqlite:///%s" % (tmp_path / "register.db")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "POSKIT_REGISTER": url}
    made = subprocess.run(
        _POSKIT + ["register", "init"], capture_output=True, text=True, env=env, cwd=ROOT,
        stdin=subprocess.DEVNULL, timeout=60,
    )  # fmt: skip
    # no terminal to ask on: the message says how to give it instead
    assert made.returncode == 1
    assert made.stderr == (
        "poskit: no terminal to ask for the password for admin: give $POSKIT_REGISTER_PASSWORD\n"
    )
    # the merchants' details and the password hashes: the file is its owner's alone
    assert (tmp_path / "register.db").stat().st_mode & 0o777 == 0o600
    env["POSKIT_REGISTER_PASSWORD"] = ADMIN_PASSWORD
    subprocess.run(_POSKIT + ["register", "init"], env=env, cwd=ROOT, timeout=60, check=True)
    given = subprocess.run(
        _POSKIT + ["register", "user", "add", "x.y", "--name", "X", "--role", "admin",
                   "--user", "admin", "--new-password", "secret123"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert given.returncode == 2 and "secret123" not in given.stderr
    assert "leave the value off to be asked without echo" in given.stderr
    # the new user's password is not the acting user's $POSKIT_REGISTER_PASSWORD
    unasked = subprocess.run(
        _POSKIT + ["register", "user", "add", "x.y", "--name", "X", "--role", "admin",
                   "--user", "admin"],
        capture_output=True, text=True, env=env, cwd=ROOT, stdin=subprocess.DEVNULL, timeout=60,
    )  # fmt: skip
    assert unasked.returncode == 1
    assert unasked.stderr == (
        "poskit: no terminal to ask for the password of x.y: give --new-password-fd N or "
        "--new-password-file FILE\n"
    )
    broken = subprocess.run(
        _POSKIT + ["register", "list", "--user", "admin", "--db",
                   "postgresql://poskit:hunter2@127.0.0.1:1/register"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert broken.returncode == 1 and "Traceback" not in broken.stderr
    assert broken.stderr.startswith("poskit: cannot use the register postgresql+psycopg://")
    assert "hunter2" not in broken.stderr and len(broken.stderr.splitlines()) == 1


def test_users_change_their_password_and_an_administrator_disables_a_login(script, tmp_path):
    secret = tmp_path / "new.password"
    secret.write_text("li.na new pass\n")
    secret.chmod(0o600)
    change = ["user", "password", "li.na", "--new-password-file", str(secret)]
    assert script("chen.jie", *change)[2] == (
        "poskit: only an administrator sets another user's password\n"
    )
    assert script("li.na", *change)[1] == "password of li.na changed\n"
    assert script("li.na", "list")[2].startswith("poskit: wrong user name or password for li.na")
    assert script("admin", "user", "disable", "li.na")[1] == "user li.na disabled\n"
    assert script("admin", "user", "disable", "admin")[2] == (
        "poskit: admin is the last active administrator: enable another first\n"
    )
    status, out, _ = script("admin", "user", "list")
    assert "li.na            salesperson  S0042    li.na  (disabled)" in out


def test_an_application_from_a_json_file_or_from_flags_alone(script, tmp_path):
    form = tomllib.loads(FORM)["merchant"]
    (tmp_path / "form.json").write_text(json.dumps(form, default=str, ensure_ascii=False))
    assert script("li.na", "add", "form.json")[1] == (
        "merchant 1 SH-2026-0001 上海某某商贸有限公司: applied\n"
    )
    flags = ["--set=%s=%s" % item for item in form.items() if item[0] != "contract_no"]
    status, out, err = script("li.na", "add", "--set", "contract_no=SH-2026-0002", *flags)
    assert (status, out, err) == (0, "merchant 2 SH-2026-0002 上海某某商贸有限公司: applied\n", "")
    status, out, _ = script("li.na", "list")
    assert [line.split()[:3] for line in out.splitlines()] == [
        ["2", "SH-2026-0002", "applied"],
        ["1", "SH-2026-0001", "applied"],
    ]
