"""``alp`` commands that drive a remote server through :class:`alp.client.Client`.

Registered on the main typer app by :func:`register`; nothing here imports torch.
"""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add ``login``, ``pools``, ``upload``, ``import``, ``export``, ``cycles``,
    ``next-batch`` and ``backtest`` to ``app``."""
    from alp.cli_remote import backtests, commands, cycles

    app.command("login")(commands.login)
    app.add_typer(commands.pools_app, name="pools")
    app.command("upload")(commands.upload)
    app.command("import")(commands.import_)
    app.command("export")(commands.export)
    app.add_typer(cycles.cycles_app, name="cycles")
    app.command("next-batch")(cycles.next_batch)
    app.command("backtest")(backtests.backtest)
