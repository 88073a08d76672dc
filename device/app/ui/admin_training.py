"""Training mode on or off in PosManage (培训模式, procedure §5).

    admin_training.run(term)

The screen shows the mode the terminal is in and offers the other. In training mode every
transaction is marked as a test in its message header, its slip says TRAINING / 培训 in
large type, and it never enters the real batch or its totals (the terminal keeps the mode
on flash, across power cycles: Terminal.training). The idle screen shows it too, so nobody
sells for real on a terminal left in training.
"""

TITLE = ("培训模式", "Training mode")


def run(term):
    ui = term.ui
    on = bool(term.training)
    state = ("现为: 开", "Now: ON") if on else ("现为: 关", "Now: OFF")
    offer = ("确认键关闭", "ENTER: turn off") if on else ("确认键开启", "ENTER: turn on")
    if not ui.confirm(TITLE, (state, offer)):
        return
    term.training = not on
    done = ("培训模式已开", "Training ON") if not on else ("培训模式已关", "Training OFF")
    ui.message(TITLE, done, wait_ms=2000)
