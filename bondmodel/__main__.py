"""``python -m bondmodel``: the same command line as ``bondmodel``."""

from bondmodel.cli import command

command()
