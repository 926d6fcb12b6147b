"""Shared fixtures: real servers on 127.0.0.1 (the Spotify simulator, Azurite), never mocks of our code."""

pytest_plugins = ["keyvault_standin", "azurite", "exporter_fixtures", "azure_standins", "worm_standin"]
