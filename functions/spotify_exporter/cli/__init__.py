"""``spotify-exporter``: the command line, a thin shell over :mod:`spotify_exporter.export`.

Exit status: 0 the snapshot is complete, 2 it is partial (what could be read was
written; the manifest says what is missing), 3 it is complete but the next run will
be refused unless the user acts (a rotated refresh token could not be saved), 1
nothing usable was written (bad settings, refused credentials, unreachable store) or
the command line was wrong.
"""

from __future__ import annotations

import sys

import click

from .. import __version__
from ..errors import ExporterError
from . import export, history, restore
from .common import EXIT_ERROR, say


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, invoke_without_command=True)
@click.version_option(__version__, prog_name="spotify-exporter")
@click.pass_context
def cli(context: click.Context) -> None:
    """Back up a Spotify account: liked songs, playlists and their items, albums, artists,
    shows, episodes and audiobooks, as CSV + JSON snapshots."""
    if context.invoked_subcommand is None:
        click.echo(context.get_help())  # our own text


for _command in (export.export, history.list_command, history.diff, history.report, history.portable, restore.restore):
    cli.add_command(_command)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry: one clean line for every expected error, never a traceback."""
    # the next page is fetched on a second thread while this one writes files; a short GIL
    # switch interval lets that thread send its request at once instead of up to 5 ms later
    sys.setswitchinterval(0.0005)
    try:
        cli.main(args=argv, prog_name="spotify-exporter", standalone_mode=False)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.ClickException as error:
        error.show()
        sys.exit(EXIT_ERROR)
    except click.exceptions.Abort:
        say("aborted", err=True)
        sys.exit(EXIT_ERROR)
    except ExporterError as error:
        say(f"error: {error}", err=True)
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt:
        say("interrupted: no manifest was written, so this snapshot counts as incomplete", err=True)
        sys.exit(130)
