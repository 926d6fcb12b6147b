"""`make auth`: authorize spotify-exporter for your account once, in a browser.

The refresh token (with the time you authorized, so exports can warn before Spotify's
six-month limit) goes to Key Vault with --vault, otherwise to .env (mode 0600, other
lines kept). Client id and secret come from the environment or .env; the secret is asked
for when missing (never a command-line argument: other users can read those).

--account ALIAS authorizes one more person of a household under that alias (their token is
stored as Spotify-RefreshToken-ALIAS, or SPOTIFY_REFRESH_TOKEN_ALIAS in .env). With
--no-browser the consent address is printed to send them; if their browser cannot reach this
machine's redirect address, they send back the address it shows, to paste here.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import webbrowser
from pathlib import Path

import requests

from spotify_exporter.accounts import DEFAULT_ACCOUNT, check_alias, describe, env_name
from spotify_exporter.authorize import DEFAULT_REDIRECT_URI, exchange_code, new_request, scopes, wait_for_redirect
from spotify_exporter.credentials import (
    AUTHORIZED_AT,
    CLIENT_ID,
    CLIENT_SECRET,
    REFRESH_TOKEN,
    SpotifyCredentials,
    read_dotenv,
    write_dotenv,
)
from spotify_exporter.errors import ConfigError, ExporterError
from spotify_exporter.keyvault import KeyVaultSecrets, SecretNames
from spotify_exporter.settings import settings_from_env
from spotify_exporter.token_age import expires_at, format_authorized_at


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    defaults = SecretNames()
    parser = argparse.ArgumentParser(prog="make auth", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--vault", help="Key Vault name or URL to store the secrets in (default: write .env)")
    parser.add_argument(
        "--account",
        default=DEFAULT_ACCOUNT,
        type=check_alias_argument,
        help="alias of the person to authorize, e.g. jane (default: the deployment's first account)",
    )
    parser.add_argument("--env-file", type=Path, default=Path(".env"), help="the .env file (default: ./.env)")
    parser.add_argument("--redirect-uri", default=DEFAULT_REDIRECT_URI, help=f"default: {DEFAULT_REDIRECT_URI}")
    parser.add_argument("--no-browser", action="store_true", help="print the URL instead of opening a browser")
    parser.add_argument("--restore", action="store_true", help="also ask for the write scopes a restore needs")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the browser (300)")
    parser.add_argument("--client-id", help=f"Spotify app client id (default: {CLIENT_ID} or .env)")
    parser.add_argument("--client-id-secret-name", default=defaults.client_id)
    parser.add_argument("--client-secret-secret-name", default=defaults.client_secret)
    parser.add_argument("--refresh-token-secret-name", default=defaults.refresh_token)
    return parser.parse_args(argv)


def check_alias_argument(text: str) -> str:
    try:
        return check_alias(text)
    except ConfigError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def app_credentials(args: argparse.Namespace) -> tuple[str, str]:
    from_file = read_dotenv(args.env_file) if args.env_file.is_file() else {}
    client_id = args.client_id or os.environ.get(CLIENT_ID) or from_file.get(CLIENT_ID)
    client_secret = os.environ.get(CLIENT_SECRET) or from_file.get(CLIENT_SECRET)
    if not client_id:
        raise ConfigError(
            f"give your Spotify app's client id with --client-id or {CLIENT_ID} (in the environment or .env)"
        )
    if not client_secret:
        if not sys.stdin.isatty():
            raise ConfigError(f"set {CLIENT_SECRET} in the environment or .env (it is never passed as an argument)")
        client_secret = getpass.getpass("Spotify app client secret: ")
    return client_id.strip(), client_secret.strip()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        settings = settings_from_env()
        client_id, client_secret = app_credentials(args)
        request = new_request(settings.accounts_url, client_id, args.redirect_uri, scopes(args.restore))

        def show_the_way() -> None:
            if args.no_browser or not webbrowser.open(request.url):
                alias = args.account
                who = "" if alias == DEFAULT_ACCOUNT else f" (or send it to {alias}: they log in as themselves)"
                print(
                    f"If the browser is on another device, it is sent to {args.redirect_uri}?... at the end, which "
                    "it cannot open: then paste that whole address here and press Enter.",
                    flush=True,
                )
                print(f"Open this address in a browser and allow access{who}:\n\n  {request.url}\n", flush=True)
            else:
                print("Your browser is open at Spotify's consent page; allow access there.", flush=True)
            print(f"Waiting up to {args.timeout:.0f} s for Spotify to send you back to {args.redirect_uri} ...")

        pasted = sys.stdin if args.no_browser else None
        code = wait_for_redirect(request, args.timeout, on_listening=show_the_way, pasted=pasted)
        authorization = exchange_code(
            requests.Session(), settings.accounts_url, client_id, client_secret, request, code
        )
        credentials = SpotifyCredentials(client_id, client_secret, authorization.refresh_token)
        if args.vault:
            names = SecretNames(
                args.client_id_secret_name, args.client_secret_secret_name, args.refresh_token_secret_name
            )
            vault = KeyVaultSecrets(args.vault, names=names, account=args.account)
            vault.store_authorization(credentials, authorization.authorized_at)
            stored = vault.names
            where = f"{vault.description} (secrets {stored.client_id}, {stored.client_secret}, {stored.refresh_token})"
        else:
            values = {
                CLIENT_ID: client_id,
                CLIENT_SECRET: client_secret,
                env_name(REFRESH_TOKEN, args.account): authorization.refresh_token,
                env_name(AUTHORIZED_AT, args.account): format_authorized_at(authorization.authorized_at),
            }
            try:
                write_dotenv(args.env_file, values)  # all four at once, or none
            except (OSError, ValueError) as error:
                reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
                raise ConfigError(f"could not write {args.env_file} ({reason}); nothing was stored") from None
            where = f"{args.env_file} (readable only by you)"
    except ExporterError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(
        f"Authorized{'' if args.account == DEFAULT_ACCOUNT else ' ' + describe(args.account)}. "
        f"The refresh token is stored in {where}.\n"
        f"Spotify ends it around {expires_at(authorization.authorized_at):%Y-%m-%d}; exports warn two weeks ahead."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
