"""Publishing the function code as part of `pulumi up`: when the package changes, or the app does.

The package (:mod:`azure_deploy.package`) is deterministic, so its SHA-256 names the code: the
dynamic resource below carries it as an input and publishes again when it changes, and also when
the app was re-created, which shows as a new principal id of its identity (a new app starts
without code even if its name is the same). The publishing itself is
:func:`azure_deploy.publish.publish_package`, shared with `make deploy`.

Pulumi pickles the provider with dill and runs it in another process (``pulumi-resource-pulumi-python``,
started with the project's virtualenv: the ``virtualenv`` runtime option of Pulumi.yaml is passed to
dynamic providers too, pulumi/pulumi pull request 4775). There ``azure_deploy`` is importable as an
installed package, but this folder's modules are not; so the provider class is defined inside
`package_provider()`: dill then pickles the class itself rather than a reference to this module.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi.dynamic

from azure_deploy.package import DEFAULT_OUTPUT, build

REDEPLOY_WHEN_CHANGED = ("package_sha256", "app_name", "app_principal_id")
"""Inputs whose change means new code or a new app; the package's local path is not one of them."""

Publish = Callable[..., str]
"""``publish_package(zip_path, *, scm_url=...) -> deployment id``, raising on failure."""


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
    return FunctionPackage(DEFAULT_OUTPUT, build(DEFAULT_OUTPUT, python_version))


def package_provider(publish: Publish | None = None) -> pulumi.dynamic.ResourceProvider:
    """The provider that publishes a package; ``publish`` replaces `azure_deploy.publish.publish_package` in tests."""

    class PackageProvider(pulumi.dynamic.ResourceProvider):
        """Creates and updates a deployment by publishing the zip; deleting it leaves the app as it is."""

        def __init__(self, publish: Publish | None) -> None:
            super().__init__()
            self.publish = publish

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
            # A failed deployment raises DeploymentError, whose one-line message `pulumi up` shows.
            return publish(path, scm_url=props["scm_url"])

        def azure_publish(self) -> Publish:
            from azure_deploy.publish import publish_package

            return publish_package

    return PackageProvider(publish)


class PackageDeployment(pulumi.dynamic.Resource):
    """One published version of the function package on one app."""

    app_name: pulumi.Output[str]
    package_sha256: pulumi.Output[str]
    deployment_id: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        app_name: pulumi.Input[str],
        app_principal_id: pulumi.Input[str],
        scm_url: pulumi.Input[str],
        package: FunctionPackage,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "app_name": app_name,
            "app_principal_id": app_principal_id,
            "scm_url": scm_url,
            "package_path": str(package.path),
            "package_sha256": package.sha256,
            "deployment_id": None,
        }
        super().__init__(package_provider(), name, props, opts)


@dataclass(frozen=True)
class CodeDeploymentArgs:
    app_name: pulumi.Input[str]
    app_principal_id: pulumi.Input[str]
    """The app identity's object id: a new one means a re-created app, which needs the code again."""
    scm_url: pulumi.Input[str]
    package: FunctionPackage
    after: Sequence[pulumi.Resource] = field(default_factory=list)
    """What must exist before publishing: the app's roles on the deployment storage, its settings."""


class CodeDeployment(pulumi.ComponentResource):
    """The function code on the app, published when the package hash or the app changes."""

    deployment: PackageDeployment
    package_sha256: pulumi.Output[str]
    deployment_id: pulumi.Output[str]

    def __init__(self, name: str, args: CodeDeploymentArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("spotify-exporter:azure:CodeDeployment", name, None, opts)
        self.deployment = PackageDeployment(
            "package",
            app_name=args.app_name,
            app_principal_id=args.app_principal_id,
            scm_url=args.scm_url,
            package=args.package,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.after)),
        )
        self.package_sha256 = self.deployment.package_sha256
        self.deployment_id = self.deployment.deployment_id
        self.register_outputs({"package_sha256": self.package_sha256, "deployment_id": self.deployment_id})
