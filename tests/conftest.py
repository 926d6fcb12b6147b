"""Shared fixtures: real servers on 127.0.0.1 (the Spotify simulator, Azurite), never mocks of our code."""

pytest_plugins = ["azurite", "exporter_fixtures", "keyvault_standin"]
