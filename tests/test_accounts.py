"""Several accounts on one app: aliases, where each person's refresh token lives, `make auth --account`
and `export --account`, against the simulator's household and the Key Vault stand-in."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from dotenv import dotenv_values
from exporter_fixtures import export_account, run_cli, write_env_file
from keyvault_standin import KeyVaultStandIn
from snapshot_checks import DATASETS, assert_matches_truth, verify_snapshot
from test_auth import assert_no_secrets, make_auth, play_browser

from spotify_exporter.accounts import DEFAULT_ACCOUNT, check_alias, env_name, parse_accounts, secret_name
from spotify_exporter.connect import connect
from spotify_exporter.errors import ConfigError
from spotify_exporter.export import run_export
from spotify_exporter.keyvault import KeyVaultSecrets
from spotify_exporter.settings import settings_from_env
from spotify_exporter.stores.local import LocalFolderStore
from spotify_simulator import SimulatedUser, SpotifySimulator, build_account

Simulator = Callable[..., SpotifySimulator]


def test_the_accounts_setting() -> None:
    assert parse_accounts(None) == parse_accounts("") == parse_accounts(" ") == (DEFAULT_ACCOUNT,)
    assert parse_accounts("default, jane ,Max") == ("default", "jane", "max")
    assert parse_accounts('["anna", "jane", "anna"]') == ("anna", "jane")
    assert parse_accounts("jo-ann\nlee") == ("jo-ann", "lee")
    with pytest.raises(ConfigError, match=r"'Jane Doe' is not an account alias: use 1-24 lowercase"):
        check_alias("Jane Doe")
    for bad in ("-jane", "jane-", "ja--ne", "j" * 25, "jäne", ""):
        with pytest.raises(ConfigError, match="is not an account alias"):
            check_alias(bad)
    with pytest.raises(ConfigError, match="lists 6 accounts; a development-mode Spotify app admits 5 users"):
        parse_accounts("a b c d e f")
    with pytest.raises(ConfigError, match="is not a JSON list of aliases"):
        parse_accounts('["jane", 3]')


def test_secret_and_variable_names_follow_the_alias_and_the_default_keeps_todays() -> None:
    assert secret_name("Spotify-RefreshToken", DEFAULT_ACCOUNT) == "Spotify-RefreshToken"
    assert secret_name("Spotify-RefreshToken", "jo-ann") == "Spotify-RefreshToken-jo-ann"
    assert env_name("SPOTIFY_REFRESH_TOKEN", DEFAULT_ACCOUNT) == "SPOTIFY_REFRESH_TOKEN"
    assert env_name("SPOTIFY_REFRESH_TOKEN", "jo-ann") == "SPOTIFY_REFRESH_TOKEN_JO_ANN"
    assert env_name("SPOTIFY_AUTHORIZED_AT", "jane") == "SPOTIFY_AUTHORIZED_AT_JANE"


def household(sim: SpotifySimulator) -> SimulatedUser:
    jane = sim.add_user(build_account("small", seed=5))
    sim.consenting_user = jane.index
    return jane


def test_make_auth_account_into_key_vault_adds_a_person_and_leaves_the_first_one(
    simulator: Simulator, keyvault: KeyVaultStandIn, tmp_path: Path
) -> None:
    sim = simulator("tiny")
    env_file = tmp_path / ".env"
    with make_auth(sim, "--vault", keyvault.url, "--env-file", str(env_file)) as run:
        play_browser(run.url)
        assert run.finish() == 0, run.stderr
    first_token = keyvault.secrets["Spotify-RefreshToken"].value
    jane = household(sim)

    with make_auth(sim, "--vault", keyvault.url, "--account", "jane", "--env-file", str(env_file)) as run:
        assert "or send it to jane" in run.stdout
        play_browser(run.url)
        assert run.finish() == 0, run.stderr
    assert "Authorized account 'jane'." in run.stdout and "Spotify-RefreshToken-jane" in run.stdout
    stored = keyvault.secrets
    assert stored["Spotify-RefreshToken-jane"].value == jane.refresh_token
    assert stored["Spotify-RefreshToken-jane"].tags["authorized_at"].startswith("20")
    assert stored["Spotify-RefreshToken"].value == first_token  # the first person's token is untouched
    assert_no_secrets(sim, run.stdout, run.stderr)

    # the app's identity reads (and may rotate) jane's token by its name, and never lists secrets
    keyvault.deny("list")
    settings = settings_from_env({}, api_url=sim.api_url, accounts_url=sim.accounts_url)
    vault = KeyVaultSecrets(keyvault.url, keyvault.credential(), account="jane")
    store = LocalFolderStore(tmp_path / "backups")
    result = run_export(connect(vault, settings, []), store)
    assert result.account_id == jane.id != sim.users[0].id
    assert_matches_truth(store, result.folder, {name: jane.expected_rows(name) for name in DATASETS})


def test_a_person_elsewhere_pastes_back_the_address_their_browser_could_not_open(
    simulator: Simulator, tmp_path: Path
) -> None:
    sim = simulator("tiny")
    jane = household(sim)
    env_file = write_env_file(tmp_path / ".env", sim)
    with make_auth(sim, "--account", "jane", "--env-file", str(env_file), stdin=subprocess.PIPE) as run:
        consent = requests.get(run.url, allow_redirects=False, timeout=10)  # on jane's phone: no listener there
        assert run.process.stdin is not None
        run.process.stdin.write("not the address\n" + consent.headers["Location"] + "\n")
        run.process.stdin.flush()
        assert run.finish() == 0, run.stderr
    assert "paste that whole address here" in run.stdout
    stored = dotenv_values(env_file)
    assert stored["SPOTIFY_REFRESH_TOKEN_JANE"] == jane.refresh_token
    assert str(stored["SPOTIFY_AUTHORIZED_AT_JANE"]).startswith("20")
    assert stored["SPOTIFY_REFRESH_TOKEN"] == sim.refresh_token  # the first person's line is kept


def test_export_account_picks_whose_token_and_each_lands_in_its_own_folder(
    simulator: Simulator, tmp_path: Path
) -> None:
    sim = simulator("tiny")
    jane = household(sim)
    env_file = write_env_file(tmp_path / ".env", sim)
    with env_file.open("a") as env:
        env.write(f"SPOTIFY_REFRESH_TOKEN_JANE={jane.refresh_token}\n")
    store = LocalFolderStore(tmp_path / "backups")

    mine = export_account(sim, store, env_file)
    hers = run_cli(["export", "--out", str(store.root), "--account", "Jane", "--env-file", str(env_file)],
                   sim.exporter_env(), tmp_path)  # fmt: skip

    assert hers.returncode == 0, hers.stderr
    assert mine.account_id == sim.users[0].id
    (folder,) = [p.parent for p in (store.root / jane.id).glob("*/manifest.json")]
    verify_snapshot(store, f"{jane.id}/{folder.name}")
    assert_matches_truth(store, f"{jane.id}/{folder.name}", {name: jane.expected_rows(name) for name in DATASETS})
    unknown = run_cli(["export", "--out", str(store.root), "--account", "max", "--env-file", str(env_file)],
                      sim.exporter_env(), tmp_path)  # fmt: skip
    assert unknown.returncode == 1
    assert "SPOTIFY_REFRESH_TOKEN_MAX not set" in unknown.stderr
    assert 'make auth ARGS="--account max"' in unknown.stderr
