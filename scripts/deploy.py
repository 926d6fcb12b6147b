"""`make deploy`: rebuild the function app package and publish it to the Flex Consumption app.

The app's name comes from ``--app`` or, when the Pulumi CLI is installed, from the stack
output ``functionAppName``: the Pulumi CLI is not needed to deploy code. Publishing is
:func:`azure_publish.publish_package` (shared with the Pulumi program), signed in with
``DefaultAzureCredential`` (``az login`` on a workstation, a service principal in CI).
Exit status 0 when the deployment succeeded, 1 with one line saying why when it did not.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parents[1]
INFRA = ROOT / "infra"
DEFAULT_OUTPUT = ROOT / "build" / "function-app.zip"
# azure_publish lives with the Pulumi program that also uses it; package.py is a sibling
for _path in (str(INFRA), str(Path(__file__).resolve().parent)):
    if _path not in sys.path:
        sys.path.append(_path)  # last: nothing in these folders may shadow an installed module

from azure_publish import DeploymentError, publish_package  # noqa: E402

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

PULUMI_TIMEOUT_S = 120


class StackError(Exception):
    """The stack's outputs could not be read; the message says what to pass instead."""


def stack_outputs(stack: str | None = None, *, cwd: Path = INFRA) -> dict[str, Any] | None:
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deploy", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--app", help="function app name (default: stack output functionAppName)")
    parser.add_argument("--stack", help="Pulumi stack to read outputs from (default: the selected one)")
    parser.add_argument("--python-version", default="3.12", help="CPython of the app (default 3.12)")
    parser.add_argument("--zip", type=Path, help="publish this zip instead of building one")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="where to build the zip")
    parser.add_argument("--scm-url", help="SCM site URL (default https://<app>.scm.azurewebsites.net)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for the deployment (900)")
    parser.add_argument("--poll-interval", type=float, default=5, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None, *, credential: TokenCredential | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        outputs = None if args.app else stack_outputs(args.stack)
        app = output_or_flag(args.app, "functionAppName", "--app", outputs)
    except StackError as exc:
        print(f"deploy: {exc}", file=sys.stderr)
        return 1
    print(f"deploy: function app {app}", flush=True)

    if args.zip is not None:
        zip_path: Path = args.zip
        try:
            sha256 = hashlib.sha256(zip_path.read_bytes()).hexdigest()
        except OSError as exc:
            print(f"deploy: cannot read {zip_path} ({exc.strerror})", file=sys.stderr)
            return 1
    else:
        from package import build

        zip_path = args.output
        print(f"deploy: building {zip_path} for CPython {args.python_version}", flush=True)
        try:
            sha256 = build(zip_path, args.python_version)
        except subprocess.CalledProcessError:
            print("deploy: installing the dependencies failed; run `make package` to see pip's output", file=sys.stderr)
            return 1
    print(f"deploy: package sha256 {sha256}", flush=True)

    print(f"deploy: publishing to {args.scm_url or f'https://{app}.scm.azurewebsites.net'}", flush=True)
    try:
        deployment = publish_package(
            app,
            zip_path,
            credential=credential,
            scm_url=args.scm_url,
            timeout_s=args.timeout,
            poll_interval_s=args.poll_interval,
            on_status=lambda line: print(f"deploy: {line}", flush=True),
        )
    except DeploymentError as exc:
        print(f"deploy: {exc}", file=sys.stderr)
        return 1
    print(f"deploy: deployment {deployment} succeeded: {app} runs package {sha256[:12]}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
