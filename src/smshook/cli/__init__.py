"""The ``smshook`` command (also ``python -m smshook``).

Configuration errors print ``error: …`` on stderr and exit with status 2, without a traceback.

One module per group of commands, each listing them in ``COMMANDS``: :mod:`.serve` (serve, migrate),
:mod:`.configuration` (config check/reference), :mod:`.operator` (connections, events, tail, status,
reprocess, stats), :mod:`.forwarding` (deliveries, replay), :mod:`.doctor`, :mod:`.privacy` (erase,
prune, dismiss), :mod:`.lifecycle` (register, optouts); ``simulate`` lives in :mod:`smshook.simulate`.
They share :mod:`.common` (options, the one settings loader, the store, paging) and import neither
each other nor this module, which only registers them.
"""

from __future__ import annotations

import click

from smshook import __version__
from smshook.cli import configuration, doctor, forwarding, lifecycle, operator, privacy, serve
from smshook.cli.common import Group, base_url
from smshook.simulate import simulate

__all__ = ["base_url", "main"]


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="smshook")
def main() -> None:
    """smshook: SMS provider callbacks in, durable normalized events out."""


for _module in (serve, configuration, operator, forwarding, doctor, privacy, lifecycle):
    for _command in _module.COMMANDS:
        main.add_command(_command)
main.add_command(simulate)  # with its per-provider generators (it imports httpx only when sending)
