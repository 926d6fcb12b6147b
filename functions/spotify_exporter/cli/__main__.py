"""``python -m spotify_exporter.cli``: the same as the ``spotify-exporter`` command."""

from . import main

main()
