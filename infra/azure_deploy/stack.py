"""The Pulumi stack's outputs, read with the Pulumi CLI when it is installed (it is not needed otherwise)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

#: the project root, where Pulumi.yaml is (this package lives in infra/azure_deploy/)
ROOT = Path(__file__).resolve().parents[2]
PULUMI_TIMEOUT_S = 120


class StackError(Exception):
    """The stack's outputs could not be read; the message says what to pass instead."""


def stack_outputs(stack: str | None = None, *, cwd: Path = ROOT) -> dict[str, Any] | None:
    """All outputs of the Pulumi stack (``pulumi stack output --json``), or None without the Pulumi CLI."""
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        return None
    command = [pulumi, "stack", "output", "--json", "--non-interactive", *(["--stack", stack] if stack else [])]
    try:
        result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=PULUMI_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StackError(f"`pulumi stack output` did not run ({type(exc).__name__})") from None
    if result.returncode != 0:
        lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
        reason = lines[-1][:200] if lines else f"exit status {result.returncode}"
        raise StackError(f"`pulumi stack output` failed: {reason}")
    try:
        outputs = json.loads(result.stdout or "{}")
    except ValueError:
        raise StackError("`pulumi stack output --json` printed something that is not JSON") from None
    return outputs if isinstance(outputs, dict) else {}


def output_or_flag(value: str | None, name: str, flag: str, outputs: dict[str, Any] | None) -> str:
    """``value`` when given, else the stack output ``name``; StackError naming ``flag`` otherwise."""
    if value:
        return value
    found = (outputs or {}).get(name)
    if isinstance(found, str) and found:
        return found
    if outputs is None:
        raise StackError(f"give {flag} (or install the Pulumi CLI to read the stack output {name})")
    raise StackError(f"the stack has no output {name}; run `pulumi up` first, or give {flag}")


def subscription_of(flag: str | None, outputs: dict[str, Any] | None) -> str:
    """``--subscription``, the stack output ``subscriptionId``, ``AZURE_SUBSCRIPTION_ID`` or ``ARM_SUBSCRIPTION_ID``."""
    found = flag or (outputs or {}).get("subscriptionId") or os.environ.get("AZURE_SUBSCRIPTION_ID")
    return str(found or os.environ.get("ARM_SUBSCRIPTION_ID") or "")
