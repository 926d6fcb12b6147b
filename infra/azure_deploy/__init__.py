"""Deploy-time Azure code shared by the Pulumi program (`infra/`) and the `make` scripts.

One importable home, installed into the project's virtualenv by ``make install`` (it is declared
in ``pyproject.toml``), so ``scripts/deploy.py``, ``scripts/trigger.py`` and the Pulumi program
import it by name and a type checker follows every call. Pulumi runs ``infra/__main__.py`` and
the dynamic provider with that same virtualenv (``runtime.options.virtualenv`` in
``Pulumi.yaml``), so the package is importable there too.

* :mod:`azure_deploy.package`: the function app's zip, built from an allowlist, one lock per Python.
* :mod:`azure_deploy.publish`: "one deploy" to a Flex Consumption app, polled as the Azure CLI does.
* :mod:`azure_deploy.arm`: the few Azure Resource Manager calls (the app's hosts, its master key).
* :mod:`azure_deploy.credentials`: the deployer's Entra sign-in (``AZURE_*`` and Pulumi's ``ARM_*``).
* :mod:`azure_deploy.stack`: reading the Pulumi stack's outputs.
* :mod:`azure_deploy.http`: requests with timeouts and retries, and the one-line errors.

Nothing here imports Pulumi: the scripts work without the Pulumi CLI.
"""

from __future__ import annotations
