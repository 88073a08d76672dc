"""Command-line entry points of the `poskit` command."""
