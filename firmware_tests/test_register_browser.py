"""The back office in a real browser: `poskit register serve` started as a command, Debian's
headless Chromium driven through ChromeDriver, a merchant taken from the application form
(with a photo of its licence uploaded) through review, approval, work order, install and
training, as a salesperson, a reviewer, an installer and the administrator logging in in turn.
A screenshot of each page goes into build/register-screens/ (the test prints where), and each
page is checked for what its user sees.

Needs `apt-get install chromium chromium-driver`; skipped without them, except in CI
($CI=true), where a missing browser fails.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from registerweb import APPLICATION, PASSWORD, PNG, install_record

from hostlib.register import db, service

ROOT = Path(__file__).resolve().parents[1]
SCREENS = ROOT / "build" / "register-screens"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
INSTALL_HINT = "apt-get install chromium chromium-driver"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
    "--lang=zh-CN",
)


def _need_chromium():
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not shutil.which(p)]
    if missing:
        message = "%s not installed: %s" % (" and ".join(missing), INSTALL_HINT)
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    """A register with a user of each role, served by `poskit register serve`."""
    _need_chromium()
    url = "sqlite:///%s" % (tmp_path / "register.db")
    db.upgrade(url)
    register = db.open(url)
    with register.transaction(None) as s:
        admin = service.add_user(s, None, "admin", "Administrator", "admin", PASSWORD)
    with register.transaction(admin) as s:
        service.add_user(s, admin, "li.na", "Li Na 李娜", "salesperson", PASSWORD, "S0042")
        service.add_user(s, admin, "chen.jing", "Chen Jing 陈静", "reviewer", PASSWORD)
        service.add_user(s, admin, "wang.li", "Wang Li 王力", "installer", PASSWORD)
    port = _free_port()
    env = dict(os.environ)
    env.pop("POSKIT_REGISTER_SECRET", None)
    log = open(tmp_path / "serve.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "tools.cli", "register", "serve", "--db", url, "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                log.close()
                pytest.fail(
                    "poskit register serve did not start: %s"
                    % (tmp_path / "serve.log").read_text()
                )
            time.sleep(0.1)
    try:
        yield register, "http://127.0.0.1:%d" % port
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        register.close()
    # the secret key was made beside the register, for its owner only
    assert (tmp_path / "register.db.secret").stat().st_mode & 0o077 == 0


@pytest.fixture
def browser(tmp_path):
    _need_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument("--user-data-dir=%s" % (tmp_path / "chromium"))
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()


class Back:
    """The browser at the back office: log in and out, fill forms, and keep a screenshot of
    each page seen."""

    def __init__(self, driver, base: str):
        from selenium.webdriver.common.by import By

        self.driver = driver
        self.base = base
        self.by = By
        self.shots = 0
        shutil.rmtree(SCREENS, ignore_errors=True)
        SCREENS.mkdir(parents=True)

    def open(self, path: str) -> None:
        self.driver.get(self.base + path)

    def text(self) -> str:
        return self.driver.find_element(self.by.TAG_NAME, "body").text

    def find(self, css: str):
        return self.driver.find_element(self.by.CSS_SELECTOR, css)

    def shot(self, name: str) -> str:
        """Save the whole page as NN-name.png (the window stretched to the page's height: a
        capture beyond the window leaves the install record's frame blank); the page's text."""
        self.shots += 1
        height = self.driver.execute_script("return document.documentElement.scrollHeight")
        self.driver.set_window_size(1280, max(900, height + 200))  # + the window's own bars
        try:
            self.driver.save_screenshot(str(SCREENS / ("%02d-%s.png" % (self.shots, name))))
        finally:
            self.driver.set_window_size(1280, 900)
        return self.text()

    def fill(self, values: dict) -> None:
        from selenium.webdriver.support.ui import Select

        for name, value in values.items():
            field = self.find('[name="%s"]' % name)
            if field.tag_name == "select":
                Select(field).select_by_value(value)
            elif field.get_attribute("type") == "checkbox":
                if field.is_selected() != bool(value):
                    field.click()
            elif field.get_attribute("type") == "file":
                field.send_keys(value)
            else:
                field.clear()
                field.send_keys(value)

    def submit(self, css: str) -> None:
        """Click a form's button and wait for the page that answers it."""
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.support import expected_conditions
        from selenium.webdriver.support.ui import WebDriverWait

        page = self.find("html")
        self.find(css).click()
        # Asked in the middle of the navigation, ChromeDriver may answer neither "still
        # there" nor "stale" but "node ... does not belong to the document": ask again.
        WebDriverWait(self.driver, 15, ignored_exceptions=(WebDriverException,)).until(
            expected_conditions.staleness_of(page)
        )

    def follow(self, css: str) -> None:
        """Follow a link (a click that loads another page)."""
        self.submit(css)

    def login(self, username: str) -> None:
        self.open("/login")
        self.fill({"username": username, "password": PASSWORD})
        self.submit("main form button[type=submit]")
        assert "Log out" in self.text(), self.text()

    def logout(self) -> None:
        self.submit("header .who button")
        assert "Log in" in self.text()


def test_a_merchant_from_application_to_installed_in_the_browser(server, browser, tmp_path):
    register, base = server
    back = Back(browser, base)
    print("screenshots: %s" % SCREENS)

    # --- the salesperson: the application form, with the licence photo -----------------------
    back.open("/")
    assert "Log in 登录" in back.shot("login")
    back.login("li.na")
    assert "Pipeline 进件看板" in back.shot("pipeline-empty")
    back.follow("nav a[href='/merchants/new']")
    form = dict(APPLICATION, fee_rate="6")
    form = {k: v for k, v in form.items() if v and k not in ("install_date", "signing_date")}
    back.fill(form)
    back.submit("#save")
    page = back.shot("application-refused")
    assert "must be above 0 and at most 5 (percent)" in back.find("#e-fee_rate").text
    assert back.find("#f-company_name").get_attribute("value") == "上海一号便利店"
    assert "The application was not saved" in page
    licence = tmp_path / "licence-photo.png"
    licence.write_bytes(PNG)
    back.fill({"fee_rate": "0.60", "doc_photo_licence": str(licence)})
    back.submit("#save")
    page = back.shot("merchant-applied")
    assert "Application SH-2026-0001 saved." in page
    assert "Still missing 8 of 9" in page
    assert "licence-photo.png" in back.find("#doc-photo_licence").text
    assert "Record the decision" not in page  # a salesperson does not approve
    merchant_path = browser.current_url[len(base) :]
    back.logout()

    # --- the reviewer: phone, on site, submission, decision, MID; the work order ---------------
    back.login("chen.jing")
    back.open(merchant_path)
    back.fill({"findings": "owner confirmed the application by phone"})
    back.submit("#review-phone button")
    back.find("#f-site-findings").send_keys("shop open; sign and licence match the photos")
    back.submit("#review-site button")
    back.fill({"party": "ICBC 上海分行"})
    back.submit("#review-submission button")
    back.find("#f-decision-party").send_keys("ICBC 上海分行")
    back.submit("#decide")
    back.fill({"mid": "898310048161234"})
    back.submit("#set-mid button")
    page = back.shot("merchant-approved")
    assert "approved 已批准" in back.find("h1").text
    assert "shop open; sign and licence match the photos" in back.find("#reviews").text
    assert "898310048161234" in page
    back.follow("#new-work-order")
    back.fill(
        {
            "installer": "wang.li",
            "requirements_confirmed": True,
            "deposit_collected": True,
            "power_position": "socket behind the counter",
            "line_position": "phone socket on the left wall",
        }
    )
    assert "New work order" in back.shot("work-order-new")
    back.submit("#save")
    back.fill({"terminal_serial": "PK-000777", "terminal_model": "poskit-esp32"})
    back.submit("#terminal-form button")
    page = back.shot("work-order")
    assert "Terminal PK-000777 is the one to install." in page
    assert "socket behind the counter" in back.find("#summary").text
    work_order_path = browser.current_url[len(base) :]
    back.logout()

    # --- the installer: their list, the spot, the install, the training ----------------------
    back.login("wang.li")
    back.follow("nav a[href='/work-orders']")
    page = back.shot("installer-work-orders")
    assert "上海一号便利店" in back.find("#work-orders").text
    back.open(work_order_path)
    back.fill({"line": "extension", "outside_prefix": "9"})
    back.submit("#save")
    assert "extension 分机, outside line 9" in back.shot("work-order-at-the-spot")
    with register.session() as s:
        installer = service.get_user(s, "wang.li")
        s.expunge(installer)
    record, record_html = install_record("PK-000777", "898310048161234", "12345678", "一号便利店")
    order_id = int(work_order_path.rsplit("/", 1)[1])
    with register.transaction(installer) as s:
        service.record_install(s, installer, order_id, record, record_html)
    back.open("/terminals/PK-000777")
    page = back.shot("terminal-installed")
    assert "898310048161234" in back.find("#app-table").text
    assert "12345678" in back.find("#app-table").text
    assert "PP-20931" in back.find("#identity").text
    assert "卡号: 622202******1234" in back.find("#installs").text
    frame = back.find("iframe.record")
    assert frame.get_attribute("sandbox") == ""
    browser.switch_to.frame(frame)
    assert "Install record 安装记录: terminal PK-000777" in back.text()
    browser.switch_to.default_content()
    for box in browser.find_elements(back.by.CSS_SELECTOR, "#training-form input[type=checkbox]"):
        box.click()
    back.fill({"manager_name": "张经理"})
    back.submit("#training-form button")
    page = back.shot("terminal-trained")
    assert "Training confirmed by 张经理." in page
    assert "not done" not in back.find("#training").text
    back.logout()

    # --- the administrator: the pipeline, search, the audit trail, the users -----------------
    back.login("admin")
    page = back.shot("pipeline")
    assert back.find("#stage-trained .count").text == "1"
    assert "cold visit 陌生拜访 1 1 0 1 100%" in back.find("#channels").text
    back.fill({"q": "12345678"})
    back.submit("header form.search button")
    assert "上海一号便利店" in back.shot("search-by-tid")
    back.follow("#results a")
    back.follow("#audit-link")
    page = back.shot("audit-trail")
    assert "li.na" in page and "chen.jing" in page and "wang.li" in page
    back.follow("nav a[href='/users']")
    assert "Chen Jing 陈静" in back.shot("users")
    assert back.shots >= 15
