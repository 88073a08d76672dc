"""What a cashier and an installer use on the terminal: the screen engine, power-up, idle
screen, menus and flows (docs/menus.md)."""
