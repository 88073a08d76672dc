"""What a cashier and an installer use on the terminal: the screen engine, power-up, idle
screen, menus and flows (docs/menus.md)."""


def forget(*names):
    """Let modules go (from sys.modules and from their package): a module used once (power-
    up's, a PosManage screen's) is heap the terminal needs for transactions. The next import
    loads it again."""
    import sys

    for name in names:
        if sys.modules.pop(name, None) is None:
            continue
        package, _, leaf = name.rpartition(".")
        parent = sys.modules.get(package)
        if parent is not None and hasattr(parent, leaf):
            delattr(parent, leaf)
