"""`make deploy`: rebuild the function app package for the app's own Python and publish it.

Everything about the app comes from the Pulumi stack's outputs when the Pulumi CLI is installed
(``functionAppName``, ``functionAppScmUrl``, ``pythonVersion``), otherwise from the app itself
through Azure Resource Manager (``--app``, ``--resource-group``, ``--subscription``): the Pulumi
CLI is not needed to deploy code. Publishing is :func:`azure_deploy.publish.publish_package`
(shared with the Pulumi program), signed in as :func:`azure_deploy.credentials.deploy_credential`
says (``az login``, ``AZURE_*`` or Pulumi's ``ARM_*`` variables). Exit status 0 when the
deployment succeeded, 1 with one line saying why when it did not.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from azure_deploy.arm import ARM_URL, ResourceManager
from azure_deploy.credentials import deploy_credential
from azure_deploy.http import DeploymentError, HttpClient
from azure_deploy.package import DEFAULT_OUTPUT, PackageError, build, supported_python_versions
from azure_deploy.publish import publish_package
from azure_deploy.stack import StackError, output_or_flag, stack_outputs, subscription_of

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential


def _say(line: str) -> None:
    print(f"deploy: {line}", flush=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deploy", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--app", help="function app name (default: stack output functionAppName)")
    parser.add_argument("--resource-group", help="its resource group (default: stack output resourceGroupName)")
    parser.add_argument("--subscription", help="its subscription (default: stack output subscriptionId)")
    parser.add_argument("--stack", help="Pulumi stack to read outputs from (default: the selected one)")
    parser.add_argument(
        "--python-version",
        help=f"CPython of the app, one of {', '.join(supported_python_versions())} "
        "(default: stack output pythonVersion, else the app's own runtime)",
    )
    parser.add_argument("--zip", type=Path, help="publish this zip instead of building one")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="where to build the zip")
    parser.add_argument("--scm-url", help="the app's SCM site (default: stack output functionAppScmUrl, else ARM)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for the deployment (900)")
    parser.add_argument("--poll-interval", type=float, default=5, help=argparse.SUPPRESS)
    parser.add_argument("--arm-url", default=ARM_URL, help=argparse.SUPPRESS)
    return parser


def main(
    argv: list[str] | None = None, *, credential: TokenCredential | None = None, http: HttpClient | None = None
) -> int:
    args = _parser().parse_args(argv)
    http = http or HttpClient(say=_say)
    try:
        given = args.app and args.scm_url and (args.python_version or args.zip)
        outputs = None if given else stack_outputs(args.stack)
        app = output_or_flag(args.app, "functionAppName", "--app", outputs)
        scm_url = args.scm_url or (outputs or {}).get("functionAppScmUrl")
        python_version = args.python_version or (outputs or {}).get("pythonVersion")
        credential = credential or deploy_credential()
        if not scm_url or not (python_version or args.zip):
            subscription = subscription_of(args.subscription, outputs)
            resource_group = args.resource_group or (outputs or {}).get("resourceGroupName")
            if not subscription or not resource_group:
                raise StackError(
                    "give --scm-url and --python-version, or --subscription and --resource-group to read them from "
                    "the app (or install the Pulumi CLI to read the stack outputs)"
                )
            site = ResourceManager.signed_in(http, credential, subscription, resource_group, app, args.arm_url).site()
            scm_url = scm_url or site.scm_url
            python_version = python_version or site.python_version
            if not python_version and not args.zip:
                raise StackError(f"{app} does not run Python on Flex Consumption; give --python-version")
    except (StackError, DeploymentError) as exc:
        print(f"deploy: {exc}", file=sys.stderr)
        return 1
    _say(f"function app {app}")

    if args.zip is not None:
        zip_path: Path = args.zip
        try:
            sha256 = hashlib.sha256(zip_path.read_bytes()).hexdigest()
        except OSError as exc:
            print(f"deploy: cannot read {zip_path} ({exc.strerror})", file=sys.stderr)
            return 1
    else:
        zip_path = args.output
        _say(f"building {zip_path} for CPython {python_version}")
        try:
            sha256 = build(zip_path, str(python_version))
        except PackageError as exc:
            print(f"deploy: {exc}", file=sys.stderr)
            return 1
    _say(f"package sha256 {sha256}")

    _say(f"publishing to {scm_url}")
    try:
        deployment = publish_package(
            zip_path,
            scm_url=str(scm_url),
            credential=credential,
            timeout_s=args.timeout,
            poll_interval_s=args.poll_interval,
            on_status=_say,
            http=http,
        )
    except DeploymentError as exc:
        print(f"deploy: {exc}", file=sys.stderr)
        return 1
    _say(f"deployment {deployment} succeeded: {app} runs package {sha256[:12]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
