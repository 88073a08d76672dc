"""The words on the terminal's screens, in Chinese and English: a word is a number, and
app.ui.screen.Screen shows it in the terminal's language (the parameter `language`).

    from app.ui import text
    ui.show(text.SALE, (text.SWIPE_CARD, "CUP"))        # words, and plain str as they are
    ui.t(text.SALE)                                     # "消费" (or "Sale")
    text.pair(text.SALE)                                # ("消费", "Sale")
    text.phrase("CUP ", text.SIGNED_ON)                 # ("CUP 已签到", "CUP signed on")

Grouped by the screen that shows them (docs/menus.md has the same map); a word two screens
share sits with the first. Keep each within a line: 8 Chinese characters or 16 ASCII ones
(a Chinese character is two columns; firmware_tests/test_ui_text.py checks). Every Chinese
character here must be in device/ui/charset.txt (then `python -m tools.fontgen`;
firmware_tests/test_fontgen.py checks). Response codes and the engine's own outcomes are in
app/txn/respcodes.py. A flow may also pass its own (Chinese, English) tuple where a word is
taken.

Adding a word: a name with the next number, and its line (marked with the name) at the same
place in _WORDS; test_ui_text.py checks that numbers, names and lines agree.

Memory: the words are one literal (in flash, in the ROMFS image) read a word at a time, and
the names are small ints: about 13 bytes of heap a word on the ESP32, where a (Chinese,
English) tuple of two literals took 76 (measured on the 32-bit port; 120 words were 8.9 KB
of the terminal's heap as tuples).
"""

# pyright: reportArgumentType=false
# (the viper function takes a ptr8, which the stubs type as int; memoryview(str) is
# MicroPython's way to reach a str's UTF-8 bytes without copying them.)

import sys

try:
    from micropython import const
except ImportError:  # CPython host tests (a lambda, as the stubs' const is positional-only)
    const = lambda value: value  # noqa: E731


# --- power-up (app/ui/powerup.py) ------------------------------------------------------------
SELF_TEST = const(0)
TESTING = const(1)
OUT_OF_SERVICE = const(2)
SELF_TEST_FAILED = const(3)
CALL_SERVICE = const(4)
NO_STORAGE_KEY = const(5)
CHECKS = const(6)
CHECKS_HINT = const(7)
PRINTER_OK = const(8)
PRINTER_NONE = const(9)
CHECK_CABLE = const(10)
PAPER_OUT = const(11)
LOAD_PAPER = const(12)
PAPER_LOW = const(13)
HAVE_ROLL = const(14)
COVER_OPEN = const(15)
CLOSE_COVER = const(16)
LINE_OK = const(17)
NO_MODEM = const(18)
CALL_FOR_SERVICE = const(19)
NO_DIAL_TONE = const(20)
CHECK_LINE = const(21)
NO_SIM = const(22)
INSERT_SIM = const(23)
SIM_LOCKED = const(24)
UNLOCK_SIM = const(25)
NOT_REGISTERED = const(26)
MOVE_TERMINAL = const(27)
NO_LINK = const(28)
PLUG_CABLE = const(29)
CLOCK_BAD = const(30)
SIGN_ON_TO_SET = const(31)
NO_TERMINAL_PARAMS = const(32)
LOAD_PARAMS = const(33)
NO_KEYS = const(34)
LOAD_KEYS = const(35)
SIGNED_ON = const(36)
NOT_SIGNED_ON = const(37)
PLEASE_SIGN_ON = const(38)
PARAMS_OK = const(39)

# --- idle (app/ui/idle.py) -------------------------------------------------------------------
TRAINING = const(40)
NO_APPLICATION = const(41)
PAPER_OK = const(42)
NO_PRINTER = const(43)
SWIPE_OR_ENTER = const(44)
DIALUP = const(45)
ETHERNET = const(46)
SIGNAL = const(47)
LINK_UP = const(48)
LINK_DOWN = const(49)
NOT_AVAILABLE = const(50)

# --- the cashier menu (app/ui/cashier.py) ----------------------------------------------------
CASHIER = const(51)
SALE = const(52)
VOID = const(53)
REFUND = const(54)
PREAUTH = const(55)
BALANCE = const(56)
SETTLEMENT = const(57)
REPRINT = const(58)
SIGN_ON = const(59)
SIGN_OFF = const(60)
ADMIN = const(61)
APPLICATION = const(62)

# --- card, amount, PIN (app/ui/terminal.py, app/ui/cashier.py) -------------------------------
SWIPE_CARD = const(63)
OR_KEY_CARD = const(64)
CARD_NUMBER = const(65)
EXPIRY = const(66)
SWIPE_AGAIN = const(67)
CHIP_CARD = const(68)
CARD_NUMBER_WRONG = const(69)
EXPIRY_WRONG = const(70)
CARD_EXPIRED = const(71)
ENTER_PIN = const(72)
NO_PIN_ENTER = const(73)
PIN_ON_PAD = const(74)
PINPAD_NO_KEY = const(75)
PINPAD_FAULT = const(76)
ENTER_TO_CONFIRM = const(77)

# --- passwords -------------------------------------------------------------------------------
OPERATOR_NUMBER = const(78)
OPERATOR_PASSWORD = const(79)
SUPERVISOR_PASSWORD = const(80)
WRONG_PASSWORD = const(81)

# --- talking to the host (the send/receive indicator) ----------------------------------------
PLEASE_WAIT = const(82)
CONNECTING = const(83)
DIALLING = const(84)
SENDING = const(85)
RECEIVING = const(86)
REVERSING = const(87)
SIGNING_ON = const(88)
UPLOADING = const(89)
CANCEL_TO_STOP = const(90)

# --- results and slips (app/ui/terminal.py, app/ui/slips.py) ---------------------------------
APPROVED = const(91)
TRACE = const(92)
PRINTING = const(93)
TEAR_OFF = const(94)
NEXT_COPY = const(95)
LOAD_PAPER_ENTER = const(96)
CLOSE_COVER_ENTER = const(97)
PRINTER_SILENT = const(98)
RETRY_OR_CANCEL = const(99)
REPRINT_LATER = const(100)
# --- power-up, again (app/ui/powerup.py) -------------------------------------------------------
RECOVERY = const(101)
# --- a chip card (app/ui/chipsale.py) ------------------------------------------------------------
INSERT_OR_SWIPE = const(102)
CHIP_FAILED = const(103)
REMOVE_CARD = const(104)
CARD_APP = const(105)
DECLINED_BY_CARD = const(106)
CARD_REMOVED = const(107)
CHIP_STOPPED = const(108)
# --- a contactless card (app/ui/tapsale.py) ------------------------------------------------------
TAP_INSERT_SWIPE = const(109)
TAP_AGAIN = const(110)
TAP_HOLD = const(111)
TAP_OFFLINE = const(112)
TAP_CUT = const(113)


_WORDS = (
    # power-up (app/ui/powerup.py)
    "|自检|Self-test"  # SELF_TEST
    "|正在自检...|Testing..."  # TESTING
    "|暂停服务|Out of service"  # OUT_OF_SERVICE
    "|自检失败:|Self-test fails:"  # SELF_TEST_FAILED
    "|请报修|Call for service"  # CALL_SERVICE
    "|无存储密钥|No storage key"  # NO_STORAGE_KEY
    "|开机检查|Power-up checks"  # CHECKS
    "|确认键继续|ENTER to go on"  # CHECKS_HINT
    "|打印机 正常|Printer OK"  # PRINTER_OK
    "|打印机无应答|Printer: none"  # PRINTER_NONE
    "|  请查电源和线|  Check cable"  # CHECK_CABLE
    "|缺纸|Paper out"  # PAPER_OUT
    "|  请装纸|  Load paper"  # LOAD_PAPER
    "|纸将尽|Paper near end"  # PAPER_LOW
    "|  请备好新纸卷|  Get a new roll"  # HAVE_ROLL
    "|机盖打开|Cover open"  # COVER_OPEN
    "|  请合上机盖|  Close cover"  # CLOSE_COVER
    "|电话线 正常|Phone line OK"  # LINE_OK
    "|调制解调器无应答|Modem: no answer"  # NO_MODEM
    "|  请报修|  Call service"  # CALL_FOR_SERVICE
    "|无拨号音|No dial tone"  # NO_DIAL_TONE
    "|  请查电话线|  Check the line"  # CHECK_LINE
    "|未插SIM卡|No SIM card"  # NO_SIM
    "|  请插入SIM卡|  Insert the SIM"  # INSERT_SIM
    "|SIM卡有密码|SIM PIN set"  # SIM_LOCKED
    "|  请换SIM卡|  Other SIM card"  # UNLOCK_SIM
    "|网络未注册|Not registered"  # NOT_REGISTERED
    "|  请换位置|  Move terminal"  # MOVE_TERMINAL
    "|网线未连接|No Ethernet link"  # NO_LINK
    "|  请插好网线|  Plug the cable"  # PLUG_CABLE
    "|时钟不对|Clock not set"  # CLOCK_BAD
    "|  签到后自动校准|  Sign on to set"  # SIGN_ON_TO_SET
    "|终端无参数|No parameters"  # NO_TERMINAL_PARAMS
    "|  请装载参数|  Load params"  # LOAD_PARAMS
    "|无主密钥|no master key"  # NO_KEYS
    "|  请装载密钥|  Load the keys"  # LOAD_KEYS
    "|已签到|signed on"  # SIGNED_ON
    "|未签到|not signed on"  # NOT_SIGNED_ON
    "|  请签到|  Sign on"  # PLEASE_SIGN_ON
    "|参数正常|parameters OK"  # PARAMS_OK
    # idle (app/ui/idle.py)
    "|培训|TRAIN"  # TRAINING
    "|未安装应用|No application"  # NO_APPLICATION
    "|打印纸 正常|Paper OK"  # PAPER_OK
    "|无打印机|No printer"  # NO_PRINTER
    "|请刷卡或按确认|Swipe or ENTER"  # SWIPE_OR_ENTER
    "|拨号|Dial-up"  # DIALUP
    "|以太网|Ethernet"  # ETHERNET
    "|信号|Signal"  # SIGNAL
    "|已连接|link up"  # LINK_UP
    "|未连接|link down"  # LINK_DOWN
    "|暂未开通|Not available"  # NOT_AVAILABLE
    # the cashier menu (app/ui/cashier.py)
    "|交易|Transactions"  # CASHIER
    "|消费|Sale"  # SALE
    "|撤销|Void"  # VOID
    "|退货|Refund"  # REFUND
    "|预授权|Pre-auth"  # PREAUTH
    "|余额查询|Balance"  # BALANCE
    "|结算|Settlement"  # SETTLEMENT
    "|重打印|Reprint"  # REPRINT
    "|签到|Sign on"  # SIGN_ON
    "|签退|Sign off"  # SIGN_OFF
    "|管理|Admin"  # ADMIN
    "|选择收单行|Application"  # APPLICATION
    # card, amount, PIN (app/ui/terminal.py, app/ui/cashier.py)
    "|请刷卡|Swipe the card"  # SWIPE_CARD
    "|或输入卡号|or key the card"  # OR_KEY_CARD
    "|卡号:|Card number:"  # CARD_NUMBER
    "|有效期YYMM:|Expiry YYMM:"  # EXPIRY
    "|刷卡失败,请重刷|Swipe again"  # SWIPE_AGAIN
    "|IC卡请插卡|Chip: insert it"  # CHIP_CARD
    "|卡号有误|Wrong card no."  # CARD_NUMBER_WRONG
    "|有效期有误|Expiry wrong"  # EXPIRY_WRONG
    "|卡已过期|Card expired"  # CARD_EXPIRED
    "|请输入密码:|Enter PIN:"  # ENTER_PIN
    "|密码,无则按确认|PIN, or ENTER:"  # NO_PIN_ENTER
    "|请持卡人输入密码|PIN on the pad"  # PIN_ON_PAD
    "|密码键盘无密钥|Pad has no key"  # PINPAD_NO_KEY
    "|密码键盘故障|PIN pad fault"  # PINPAD_FAULT
    "|确认键继续|ENTER to go on"  # ENTER_TO_CONFIRM
    # passwords
    "|操作员号:|Operator no:"  # OPERATOR_NUMBER
    "|操作员密码:|Operator pass:"  # OPERATOR_PASSWORD
    "|主管密码:|Supervisor pass:"  # SUPERVISOR_PASSWORD
    "|密码错误|Wrong password"  # WRONG_PASSWORD
    # talking to the host (the send/receive indicator)
    "|处理中,请稍候|Please wait"  # PLEASE_WAIT
    "|正在连接主机|Connecting"  # CONNECTING
    "|正在拨号|Dialling"  # DIALLING
    "|发送>>|Sending >>"  # SENDING
    "|<<接收|<< Receiving"  # RECEIVING
    "|正在冲正|Reversal"  # REVERSING
    "|正在签到|Signing on"  # SIGNING_ON
    "|批上送|Uploading"  # UPLOADING
    "|取消键中止|CANCEL to stop"  # CANCEL_TO_STOP
    # results and slips (app/ui/terminal.py, app/ui/slips.py)
    "|交易成功|Approved"  # APPROVED
    "|凭证号 |Trace "  # TRACE
    "|正在打印...|Printing..."  # PRINTING
    "|请撕下商户联|Tear off copy"  # TEAR_OFF
    "|确认键打印下一联|ENTER: next copy"  # NEXT_COPY
    "|装好纸按确认键|Load, then ENTER"  # LOAD_PAPER_ENTER
    "|合上机盖按确认|Close, ENTER"  # CLOSE_COVER_ENTER
    "|打印机无应答|Printer silent"  # PRINTER_SILENT
    "|确认键重试|ENTER to retry"  # RETRY_OR_CANCEL
    "|可在重打印补打|Reprint it later"  # REPRINT_LATER
    # power-up, again (app/ui/powerup.py)
    "|交易恢复|Recovery"  # RECOVERY
    # a chip card (app/ui/chipsale.py)
    "|请刷卡或插卡|Swipe or insert"  # INSERT_OR_SWIPE
    "|IC卡失败请刷卡|Chip fail: swipe"  # CHIP_FAILED
    "|请拔卡|Remove the card"  # REMOVE_CARD
    "|选择卡应用|Card application"  # CARD_APP
    "|卡片拒绝交易|Card declined"  # DECLINED_BY_CARD
    "|卡已拔出|Card removed"  # CARD_REMOVED
    "|IC卡交易终止|Chip: stopped"  # CHIP_STOPPED
    # a contactless card (app/ui/tapsale.py)
    "|请挥卡/插卡/刷卡|Tap/insert/swipe"  # TAP_INSERT_SWIPE
    "|请重新挥卡|Tap again"  # TAP_AGAIN
    "|正在读卡 请稍候|Reading the card"  # TAP_HOLD
    "|电子现金 离线|E-cash, offline"  # TAP_OFFLINE
    "|上笔挥卡未完成|Last tap cut off"  # TAP_CUT
    "|"
)


def _find_portable(buf, size, index):
    # The byte offset of separator number `index` (from 0) in buf[:size], or -1.
    for i in range(size):
        if buf[i] == 0x7C:
            if index == 0:
                return i
            index -= 1
    return -1


if sys.implementation.name == "micropython":
    import micropython

    # A word is looked up at every screen drawn: the table is scanned at machine speed.
    @micropython.viper
    def _find(buf: ptr8, size: int, index: int) -> int:
        i = 0
        while i < size:
            if buf[i] == 0x7C:
                if index == 0:
                    return i
                index -= 1
            i += 1
        return -1

    _TABLE = memoryview(_WORDS)  # the literal's UTF-8 bytes, not a copy
else:
    _find = _find_portable
    _TABLE = _WORDS.encode()


def word(number, english=False):
    """Word `number` in Chinese, or in English with `english`; ValueError for no such word."""
    size = len(_TABLE)
    start = _find(_TABLE, size, 2 * number + (1 if english else 0))
    if start < 0 or number < 0:
        raise ValueError("no word %d" % number)
    end = _find(_TABLE, size, 2 * number + (2 if english else 1))
    return str(_TABLE[start + 1 : end], "utf-8")


def pair(number):
    """(Chinese, English) of word `number`."""
    return word(number), word(number, True)


def phrase(*parts):
    """(Chinese, English) of `parts` put together, each a word (a number) or a str:
    phrase("CUP ", SIGNED_ON) is ("CUP 已签到", "CUP signed on")."""
    chinese = english = ""
    for part in parts:
        if isinstance(part, int):
            chinese += word(part)
            english += word(part, True)
        else:
            chinese += part
            english += part
    return chinese, english
