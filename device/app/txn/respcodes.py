"""What the cashier is told: a short message in English and Chinese for every response code of
spec §3.6, and for the terminal's own outcomes (no answer, bad MAC, reversal failed...).

    respcodes.message("51")        # ("Insufficient funds: use another card", "余额不足,请换卡")
    respcodes.terminal("timeout")      # the engine's own outcomes, by name
    respcodes.approved("A2")           # True: treated as success (spec §3.6)

The tables are text literals: in a .mpy they stay in flash (ROMFS), and a lookup splits one
line. Chinese is UTF-8, for the display; the printer's GB18030 comes with the receipt code.
"""

# code|English|Chinese; several codes may share a line ("04 34 41 43").
_HOST = """00|Approved|交易成功
10|Partial approval: collect the rest another way|部分承兑,请收取余额
11|Approved (VIP)|交易成功(VIP)
A2 A4 A5 A6|Approved with a fault: confirm with the issuer|交易成功,请向发卡行确认
01|Refer to the card issuer: ask the cardholder to call the bank|请持卡人与发卡行联系
03|Invalid merchant: call the acquirer|无效商户,请联系收单行
04 34 41 43|Pick up card: keep the card, call the acquirer|没收卡,请联系收单行
05|Cardholder verification failed: ask the cardholder to call the bank|持卡人认证失败
12|Invalid transaction: this card cannot do it|无效交易
13|Invalid amount: check the amount|无效金额,请核对金额
14|Invalid card number: check the card|无效卡号,请核对卡片
15|No such issuer: use another card|无此发卡行,请换卡
22|Operation not allowed, or past the allowed days|操作有误或超出交易允许天数
25|Original transaction not found: check the trace number|找不到原始交易,请核对凭证号
30|Format error: try again, then call the acquirer|报文格式错误,请重试
38 75|PIN tries exceeded: ask the cardholder to call the bank|密码错误次数超限
40|Function not supported: call the acquirer|不支持的交易,请联系收单行
51|Insufficient funds: use another card|余额不足,请换卡
54|Card expired: use another card|过期卡,请换卡
55|Wrong PIN: enter the PIN again|密码错误,请重新输入
57 58|Transaction not permitted for this card|不允许此卡交易
61|Amount over the limit: use a smaller amount|超出金额限制
64|Amount differs from the original transaction|金额与原交易不符
65|Too many transactions: try again later|超出消费次数限制
68|Timed out at the host: try again|交易超时,请重试
77|Batch mismatch: sign on again|批次号不符,请重新签到
90|Host cut-over in progress: try again in a few minutes|系统日切中,请稍后重试
91 92|Issuer unavailable: try again later|发卡行不能操作,请稍后重试
94|Duplicate transaction: check the last slip|重复交易,请核对上笔交易
96|Host malfunction: try again, then call the acquirer|系统故障,请稍后重试
97|Terminal not registered: call the acquirer|终端未登记,请联系收单行
98|Issuer timed out: try again|发卡行超时,请重试
99|PIN format error: sign on again|PIN格式错误,请重新签到
A0|MAC check failed at the host: sign on again|MAC校验错,请重新签到
A1|Currency mismatch: call the acquirer|币种不符,请联系收单行
A3|Wrong account: use another card|账户错误,请换卡
A7|Host abnormal: try again later|交换中心异常,请稍后重试"""

# The engine's own outcomes (Result.error), by name.
_TERMINAL = """timeout|No answer from the host: a reversal will be sent|主机无应答,将自动冲正
link|Connection lost: a reversal will be sent, try again|通讯中断,将自动冲正,请重试
connect|Cannot connect to the host: check the line and try again|连接主机失败,请检查线路
cancelled|Cancelled at the terminal: nothing was sent|交易已取消,未发送
cancelled_reversal|Cancelled after sending: a reversal will be sent|交易已取消,将自动冲正
no_parameters|No parameters for this application: load them|无参数,请装载参数
out_of_service|Out of service: self-test failed, call for service|终端自检失败,暂停服务,请报修
invalid|Invalid answer from the host: a reversal will be sent|主机应答无效,将自动冲正
mac|Answer MAC check failed: a reversal will be sent, sign on again|应答MAC校验错,将自动冲正
reversal|Reversal failed: call the acquirer about the previous transaction|冲正不成功,请联系收单行
reversal_pending|Reversal not delivered: try again when the line works|冲正未完成,请稍后重试
advice_pending|Refund/notice unconfirmed: try again when the line works|退货/通知未确认,请稍后重试
not_signed_on|Not signed on: sign on first|未签到,请先签到
key_check|Key check failed: keys not changed, call the acquirer|密钥校验错,请联系收单行
password|Wrong supervisor password|主管密码错误
not_found|Original transaction not found in this batch|本批次无此原交易
not_allowed|Original transaction already voided or reversed|原交易已撤销或已冲正
amount|Amount must equal the original transaction|金额须与原交易相同
card|Card differs from the original transaction|卡号与原交易不符
input|Missing or wrong input: check and try again|输入有误,请重新输入
storage|Terminal storage error: the transaction is being reversed|终端存储错误,交易将冲正
flash|Terminal flash error: check the last slip, call for service|终端存储故障,请核对上笔交易后报修
storage_key|Keys sealed under another storage key: nothing sent|存储密钥不符,未发送,请重装密钥
no_tmk|No master key for this application: load it, then sign on|无主密钥,请装载主密钥后签到
signed_off|Signed off: sign on before the next transaction|已签退,请先签到
card_number|Card number is wrong (check digit): key it in again|卡号有误,请重新输入
blacklisted|Card on the acquirer's black list: not accepted, nothing sent|拒绝名单中的卡,请换卡
pin_required|PIN required: enter the cardholder's PIN and try again|此卡须输入密码,请输入密码后重试
confirm_empty|No transactions in this batch: settle with zero totals?|本批次无交易,是否结算?
empty_batch|No transactions in this batch: nothing to settle|本批次无交易,不能结算
unbalanced|Settled, totals differ from the host: details uploaded|结算完成,对账不平
settle_error|Settled, host reports a totals error: details uploaded|结算完成,对账出错,请联系收单行
balanced|Settled, totals agree with the host|结算完成,对账平
declined|Declined: call the acquirer|交易失败,请联系收单行
card_declined|Declined by the card after the host approved: reversed|卡片拒绝交易,已冲正
settle_first|Batch full: settle first, nothing was sent|批次已满,请先结算,交易未发送
batch_near|Batch nearly full: settle soon|批次将满,请结算"""


def _find(table, code):
    # Walks the table line by line with find(): splitting it whole would put every message
    # on the heap at once (about 3 KB) to read one.
    start = 0
    size = len(table)
    while start < size:
        end = table.find("\n", start)
        if end < 0:
            end = size
        bar = table.find("|", start, end)
        if code in table[start:bar].split():
            second = table.find("|", bar + 1, end)
            return table[bar + 1 : second], table[second + 1 : end]
        start = end + 1
    return None


def message(code):
    """(English, Chinese) for response code `code` (field 39); a code the table lacks gets a
    generic message naming it."""
    found = _find(_HOST, code)
    if found is None:
        return (
            "Declined (code %s): call the acquirer" % code,
            "交易失败(%s),请联系收单行" % code,
        )
    return found


def terminal(name):
    """(English, Chinese) for one of the engine's own outcomes (Result.error)."""
    found = _find(_TERMINAL, name)
    if found is None:
        return ("Failed (%s)" % name, "交易失败(%s)" % name)
    return found


def approved(code):
    """Whether response code `code` means the transaction went through (spec §3.6: 00, 10
    partial approval, 11 VIP, A2/A4/A5/A6 approved with a fault)."""
    return code in _APPROVED


_APPROVED = ("00", "10", "11", "A2", "A4", "A5", "A6")
