"""Point-in-time backups of a Spotify account: the exporter core.

Nothing in this package imports Azure Functions: the function app, the CLI and
the scripts are thin shells over :func:`spotify_exporter.export.run_export`.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("spotify-exporter")
except PackageNotFoundError:  # shipped inside the function app package, not pip-installed
    __version__ = "0.1.0"
