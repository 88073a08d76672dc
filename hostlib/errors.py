"""The one root error of the host library: every failure a user should read derives from it."""


class PoskitError(Exception):
    """A failure with a message meant for the installer or terminal engineer."""
