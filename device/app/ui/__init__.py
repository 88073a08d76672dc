"""What a cashier and an installer use on the terminal: the screen engine, power-up, idle
screen, menus and flows (docs/menus.md)."""

from app import forget  # noqa: F401  (the UI's modules import it from here)
