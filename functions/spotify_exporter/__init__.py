"""Point-in-time backups of a Spotify account: the exporter core.

Nothing in this package imports Azure Functions: the function app, the CLI and
the scripts are thin shells over :func:`spotify_exporter.export.run_export`.
"""

__version__ = "0.1.0"
