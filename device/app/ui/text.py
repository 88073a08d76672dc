"""The words on the terminal's screens, as (Chinese, English) pairs: app.ui.screen.Screen shows
the one of the terminal's language (the parameter `language`).

    from app.ui import text
    ui.show(text.SALE, (text.SWIPE_CARD,))

Grouped by the screen that shows them (docs/menus.md has the same map); a word two screens
share sits with the first. Keep each within a line: 8 Chinese characters or 16 ASCII ones
(a Chinese character is two columns). Every Chinese character here must be in
device/ui/charset.txt (then `python -m tools.fontgen`); firmware_tests/test_fontgen.py checks.
Response codes and the engine's own outcomes are in app/txn/respcodes.py.

Memory: a pair is a tuple built when this module loads (about 40 bytes each on the ESP32,
words included, measured with the terminal), so only words of the screens every terminal
shows live here: a rarely used screen keeps its words in its own module.
"""

# --- power-up (app/ui/powerup.py) ------------------------------------------------------------
SELF_TEST = ("自检", "Self-test")
TESTING = ("正在自检...", "Testing...")
OUT_OF_SERVICE = ("暂停服务", "Out of service")
SELF_TEST_FAILED = ("自检失败:", "Self-test fails:")
CALL_SERVICE = ("请报修", "Call for service")
NO_STORAGE_KEY = ("无存储密钥", "No storage key")
CHECKS = ("开机检查", "Power-up checks")
CHECKS_HINT = ("确认键继续", "ENTER to go on")
PRINTER_OK = ("打印机 正常", "Printer OK")
PRINTER_NONE = ("打印机无应答", "Printer: none")
CHECK_CABLE = ("  请查电源和线", "  Check cable")
PAPER_OUT = ("缺纸", "Paper out")
LOAD_PAPER = ("  请装纸", "  Load paper")
PAPER_LOW = ("纸将尽", "Paper near end")
HAVE_ROLL = ("  请备好新纸卷", "  Get a new roll")
COVER_OPEN = ("机盖打开", "Cover open")
CLOSE_COVER = ("  请合上机盖", "  Close cover")
LINE_OK = ("电话线 正常", "Phone line OK")
NO_MODEM = ("调制解调器无应答", "Modem: no answer")
CALL_FOR_SERVICE = ("  请报修", "  Call service")
NO_DIAL_TONE = ("无拨号音", "No dial tone")
CHECK_LINE = ("  请查电话线", "  Check the line")
NO_SIM = ("未插SIM卡", "No SIM card")
INSERT_SIM = ("  请插入SIM卡", "  Insert the SIM")
SIM_LOCKED = ("SIM卡有密码", "SIM PIN set")
UNLOCK_SIM = ("  请换SIM卡", "  Other SIM card")
NOT_REGISTERED = ("网络未注册", "Not registered")
MOVE_TERMINAL = ("  请换位置", "  Move terminal")
NO_LINK = ("网线未连接", "No Ethernet link")
PLUG_CABLE = ("  请插好网线", "  Plug the cable")
CLOCK_BAD = ("时钟不对", "Clock not set")
SIGN_ON_TO_SET = ("  签到后自动校准", "  Sign on to set")
NO_TERMINAL_PARAMS = ("终端无参数", "No parameters")
LOAD_PARAMS = ("  请装载参数", "  Load params")
NO_KEYS = ("无主密钥", "no master key")
LOAD_KEYS = ("  请装载密钥", "  Load the keys")
SIGNED_ON = ("已签到", "signed on")
NOT_SIGNED_ON = ("未签到", "not signed on")
PLEASE_SIGN_ON = ("  请签到", "  Sign on")
PARAMS_OK = ("参数正常", "parameters OK")

# --- idle (app/ui/idle.py) -------------------------------------------------------------------
TRAINING = ("培训", "TRAIN")
NO_APPLICATION = ("未安装应用", "No application")
PAPER_OK = ("打印纸 正常", "Paper OK")
NO_PRINTER = ("无打印机", "No printer")
SWIPE_OR_ENTER = ("请刷卡或按确认", "Swipe or ENTER")
DIALUP = ("拨号", "Dial-up")
ETHERNET = ("以太网", "Ethernet")
SIGNAL = ("信号", "Signal")
LINK_UP = ("已连接", "link up")
LINK_DOWN = ("未连接", "link down")
NOT_AVAILABLE = ("暂未开通", "Not available")

# --- the cashier menu (app/ui/cashier.py) ----------------------------------------------------
CASHIER = ("交易", "Transactions")
SALE = ("消费", "Sale")
VOID = ("撤销", "Void")
REFUND = ("退货", "Refund")
PREAUTH = ("预授权", "Pre-auth")
BALANCE = ("余额查询", "Balance")
SETTLEMENT = ("结算", "Settlement")
REPRINT = ("重打印", "Reprint")
SIGN_ON = ("签到", "Sign on")
SIGN_OFF = ("签退", "Sign off")
ADMIN = ("管理", "Admin")
APPLICATION = ("选择收单行", "Application")

# --- card, amount, PIN (app/ui/terminal.py, app/ui/cashier.py) -------------------------------
SWIPE_CARD = ("请刷卡", "Swipe the card")
OR_KEY_CARD = ("或输入卡号", "or key the card")
CARD_NUMBER = ("卡号:", "Card number:")
EXPIRY = ("有效期YYMM:", "Expiry YYMM:")
SWIPE_AGAIN = ("刷卡失败,请重刷", "Swipe again")
CHIP_CARD = ("IC卡请插卡", "Chip: insert it")
CARD_NUMBER_WRONG = ("卡号有误", "Wrong card no.")
EXPIRY_WRONG = ("有效期有误", "Expiry wrong")
CARD_EXPIRED = ("卡已过期", "Card expired")
ENTER_PIN = ("请输入密码:", "Enter PIN:")
NO_PIN_ENTER = ("密码,无则按确认", "PIN, or ENTER:")
PIN_ON_PAD = ("请持卡人输入密码", "PIN on the pad")
PINPAD_NO_KEY = ("密码键盘无密钥", "Pad has no key")
PINPAD_FAULT = ("密码键盘故障", "PIN pad fault")
ENTER_TO_CONFIRM = ("确认键继续", "ENTER to go on")

# --- passwords -------------------------------------------------------------------------------
OPERATOR_NUMBER = ("操作员号:", "Operator no:")
OPERATOR_PASSWORD = ("操作员密码:", "Operator pass:")
SUPERVISOR_PASSWORD = ("主管密码:", "Supervisor pass:")
WRONG_PASSWORD = ("密码错误", "Wrong password")

# --- talking to the host (the send/receive indicator) ----------------------------------------
PLEASE_WAIT = ("处理中,请稍候", "Please wait")
CONNECTING = ("正在连接主机", "Connecting")
DIALLING = ("正在拨号", "Dialling")
SENDING = ("发送>>", "Sending >>")
RECEIVING = ("<<接收", "<< Receiving")
REVERSING = ("正在冲正", "Reversal")
SIGNING_ON = ("正在签到", "Signing on")
UPLOADING = ("批上送", "Uploading")
CANCEL_TO_STOP = ("取消键中止", "CANCEL to stop")

# --- results and slips (app/ui/terminal.py, app/ui/slips.py) ---------------------------------
APPROVED = ("交易成功", "Approved")
TRACE = ("凭证号 ", "Trace ")
PRINTING = ("正在打印...", "Printing...")
TEAR_OFF = ("请撕下商户联", "Tear off copy")
NEXT_COPY = ("确认键打印下一联", "ENTER: next copy")
LOAD_PAPER_ENTER = ("装好纸按确认键", "Load, then ENTER")
CLOSE_COVER_ENTER = ("合上机盖按确认", "Close, ENTER")
PRINTER_SILENT = ("打印机无应答", "Printer silent")
RETRY_OR_CANCEL = ("确认键重试", "ENTER to retry")
REPRINT_LATER = ("可在重打印补打", "Reprint it later")
