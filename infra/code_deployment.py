"""Publishing the function code as part of `pulumi up`, and only when the package changed.

The package (`scripts/package.py`) is deterministic, so its SHA-256 names the code: the dynamic
resource below carries it as an input and publishes again only when it (or the target app)
changes. The publishing itself is `azure_publish.publish_package`, shared with `make deploy`.

Pulumi pickles the provider with dill and runs it in another process, started in the project
root, where this folder's modules cannot be imported. So the provider class is defined inside
`package_provider()`: dill then pickles the class itself rather than a reference to this module,
and its methods use only the standard library, pulumi and their own attributes.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pulumi
import pulumi.dynamic

INFRA = Path(__file__).resolve().parent
ROOT = INFRA.parent
PACKAGE_SCRIPT = ROOT / "scripts" / "package.py"
DEFAULT_PACKAGE = ROOT / "build" / "function-app.zip"
REDEPLOY_WHEN_CHANGED = ("package_sha256", "app_name")
"""Inputs whose change means new code or a new app; the package's local path is not one of them."""

Publish = Callable[..., str]
"""``publish_package(app_name, zip_path, *, scm_url=...) -> deployment id``, raising on failure."""


@dataclass(frozen=True)
class FunctionPackage:
    path: Path
    sha256: str


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def function_package(python_version: str, prebuilt: Path | None = None) -> FunctionPackage:
    """The zip to deploy: ``prebuilt`` as it is, or a fresh build of ``functions/`` (same bytes for same sources)."""
    if prebuilt is not None:
        return FunctionPackage(prebuilt.resolve(), sha256_of(prebuilt))
    spec = importlib.util.spec_from_file_location("package_script", PACKAGE_SCRIPT)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(PACKAGE_SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    build = cast(Callable[[Path, str], str], script.build)
    return FunctionPackage(DEFAULT_PACKAGE, build(DEFAULT_PACKAGE, python_version))


def package_provider(publish: Publish | None = None, infra: Path = INFRA) -> pulumi.dynamic.ResourceProvider:
    """The provider that publishes a package; ``publish`` replaces `azure_publish.publish_package` in tests."""

    class PackageProvider(pulumi.dynamic.ResourceProvider):
        """Creates and updates a deployment by publishing the zip; deleting it leaves the app as it is."""

        def __init__(self, publish: Publish | None, infra: str) -> None:
            super().__init__()
            self.publish = publish
            self.infra = infra  # where azure_publish lives, put on sys.path in the provider's process

        def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
            deployment_id = self.deploy(props)
            return pulumi.dynamic.CreateResult(id_=deployment_id, outs={**props, "deployment_id": deployment_id})

        def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
            changed = [key for key in REDEPLOY_WHEN_CHANGED if olds.get(key) != news.get(key)]
            return pulumi.dynamic.DiffResult(changes=bool(changed), replaces=[], delete_before_replace=False)

        def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
            return pulumi.dynamic.UpdateResult(outs={**news, "deployment_id": self.deploy(news)})

        def deploy(self, props: dict[str, Any]) -> str:
            """Publish, refusing a zip that is no longer the one this update was planned with."""
            path = Path(props["package_path"])
            if hashlib.sha256(path.read_bytes()).hexdigest() != props["package_sha256"]:
                raise RuntimeError(f"{path} changed since this update was planned; run `pulumi up` again")
            publish = self.publish or self.azure_publish()
            # A failed deployment raises the publisher's DeploymentError, whose message `pulumi up` shows.
            return publish(props["app_name"], path, scm_url=props["scm_url"])

        def azure_publish(self) -> Publish:
            import sys

            if self.infra not in sys.path:
                sys.path.append(self.infra)
            import azure_publish

            return azure_publish.publish_package

    return PackageProvider(publish, str(infra))


class PackageDeployment(pulumi.dynamic.Resource):
    """One published version of the function package on one app."""

    app_name: pulumi.Output[str]
    package_sha256: pulumi.Output[str]
    deployment_id: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        app_name: pulumi.Input[str],
        scm_url: pulumi.Input[str],
        package: FunctionPackage,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "app_name": app_name,
            "scm_url": scm_url,
            "package_path": str(package.path),
            "package_sha256": package.sha256,
            "deployment_id": None,
        }
        super().__init__(package_provider(), name, props, opts)


@dataclass(frozen=True)
class CodeDeploymentArgs:
    app_name: pulumi.Input[str]
    scm_url: pulumi.Input[str]
    package: FunctionPackage
    after: Sequence[pulumi.Resource] = field(default_factory=list)
    """What must exist before publishing: the app's roles on the deployment storage, its settings."""


class CodeDeployment(pulumi.ComponentResource):
    """The function code on the app, published when the package hash changes."""

    deployment: PackageDeployment
    package_sha256: pulumi.Output[str]
    deployment_id: pulumi.Output[str]

    def __init__(self, name: str, args: CodeDeploymentArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("spotify-exporter:azure:CodeDeployment", name, None, opts)
        self.deployment = PackageDeployment(
            "package",
            app_name=args.app_name,
            scm_url=args.scm_url,
            package=args.package,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.after)),
        )
        self.package_sha256 = self.deployment.package_sha256
        self.deployment_id = self.deployment.deployment_id
        self.register_outputs({"package_sha256": self.package_sha256, "deployment_id": self.deployment_id})
