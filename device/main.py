# Start-up: the board this firmware runs on, then the terminal application (app/ui/terminal.py):
# the self-test, the power-up checks, the idle screen, for ever. Ctrl-C on the console stops it
# and gives the REPL, unless the parameters lock the terminal down (docs/board.md).
import sys

if sys.platform == "esp32":
    from board import esp32_ref as board

    # The terminal's LittleFS at /flash (the virtual terminal's host mounts its own first).
    board.mount_flash()
else:
    from board import unix_sim as board

from app.ui import terminal

terminal.run(board)
