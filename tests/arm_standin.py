"""Pulumi's mocks made strict: what the engine would send to Azure is checked as Azure Resource Manager would.

``pulumi.runtime.set_mocks`` accepts any input. :class:`ArmMonitor` sits where the engine sits: it
reads each ``RegisterResource`` request's *serialized* properties (the protobuf struct the engine
receives, camelCase keys as ARM sees them, SDK defaults included), and refuses what ARM refuses,
with ARM's error code where one is known. A refused resource fails the program the way a real
`pulumi up` fails at that resource. Each rule cites the evidence for it.

:class:`ArmMocks` then answers like ARM: resource ids of the right shape, names, the app's
identity and host names, blob endpoints, the vault URI, the client config of the deployer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
from google.protobuf import json_format
from kql import diagnostics
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.rpc import _special_secret_sig, _special_sig_key

SUBSCRIPTION = "00000000-0000-0000-0000-00000000005b"
TENANT = "00000000-0000-0000-0000-0000000000a1"
DEPLOYER = "11111111-0000-0000-0000-00000000d3b1"
CONNECTION_STRING = "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=https://x/"

GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
#: the sentinel the SDK serializes for a value unknown during preview
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"

# The input that names each Azure resource; the mocks answer with it as the resource's `name`.
NAME_INPUT = {
    "azure-native:resources:ResourceGroup": "resourceGroupName",
    "azure-native:storage:StorageAccount": "accountName",
    "azure-native:storage:BlobContainer": "containerName",
    "azure-native:storage:BlobContainerImmutabilityPolicy": "immutabilityPolicyName",
    "azure-native:storage:Queue": "queueName",
    "azure-native:keyvault:Vault": "vaultName",
    "azure-native:web:AppServicePlan": "name",
    "azure-native:web:WebApp": "name",
    "azure-native:applicationinsights:Component": "resourceName",
    "azure-native:operationalinsights:Workspace": "workspaceName",
    "azure-native:monitor:ActionGroup": "actionGroupName",
    "azure-native:monitor:ScheduledQueryRule": "ruleName",
    "azure-native:authorization:RoleAssignment": "roleAssignmentName",
}

# --- the rules -------------------------------------------------------------------------------------

#: Flex Consumption refuses these in siteConfig with ARM error 51021 ("The following site configuration
#: property (Site.SiteConfig.NetFrameworkVersion) for Flex Consumption sites is invalid"):
#: pulumi/pulumi-azure-native issue 4168, microsoft/azure-pipelines-tasks issue 21032,
#: Azure/terraform-azurerm-avm-res-web-site pull request 345 and issue 283, Azure/azure-cli issue 31414,
#: and Microsoft's list of deprecated properties for Flex Consumption (functions-flex-consumption-plan).
FLEX_REFUSED_SITE_CONFIG = frozenset(
    {
        "netFrameworkVersion", "ftpsState", "use32BitWorkerProcess", "preWarmedInstanceCount",
        "functionsRuntimeScaleMonitoringEnabled", "linuxFxVersion", "windowsFxVersion", "javaVersion",
        "powerShellVersion", "alwaysOn", "functionAppScaleLimit", "minimumElasticInstanceCount",
    }
)  # fmt: skip
#: app settings Flex Consumption rejects (its runtime and deployment come from functionAppConfig)
FLEX_REFUSED_APP_SETTINGS = frozenset(
    {
        "FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION", "FUNCTIONS_WORKER_RUNTIME_VERSION",
        "WEBSITE_RUN_FROM_PACKAGE", "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING", "WEBSITE_CONTENTSHARE",
        "SCM_DO_BUILD_DURING_DEPLOYMENT", "ENABLE_ORYX_BUILD", "WEBSITE_NODE_DEFAULT_VERSION",
    }
)  # fmt: skip
#: 512 MB has been refused by the service (Azure/azure-rest-api-specs issue 40898); 2048 and 4096 work
FLEX_INSTANCE_MEMORY_MB = frozenset({2048, 4096})
#: maximumInstanceCount's range on Flex Consumption (Microsoft, event-driven scaling: "Limit scale-out")
FLEX_INSTANCE_COUNT = (1, 1000)
#: A version outside the region's catalog is accepted by ARM but the host never starts
#: (Azure/Azure-Functions issue 2665); this stand-in region's catalog, as
#: `az functionapp list-flexconsumption-runtimes -l westeurope --runtime python` would list it.
FLEX_PYTHON_CATALOG = frozenset({"3.10", "3.11", "3.12", "3.13"})
#: scheduledQueryRules' accepted windows and frequencies (validated alike by the Terraform provider,
#: hashicorp/terraform-provider-azurerm pull request 18960, after Azure/azure-rest-api-specs issue 21258)
ALERT_FREQUENCIES = (
    "PT1M",
    "PT5M",
    "PT10M",
    "PT15M",
    "PT30M",
    "PT45M",
    "PT1H",
    "PT2H",
    "PT3H",
    "PT4H",
    "PT5H",
    "PT6H",
    "P1D",
)
ALERT_WINDOWS = (*ALERT_FREQUENCIES, "P2D")
ALERT_OPERATORS = frozenset({"Equal", "GreaterThan", "GreaterThanOrEqual", "LessThan", "LessThanOrEqual"})
ROLE_DEFINITION_PREFIX = r"/subscriptions/[^/]+/providers/Microsoft\.Authorization/roleDefinitions/"
PRINCIPAL_TYPES = frozenset({"User", "Group", "ServicePrincipal", "ForeignGroup", "Device"})
#: a time-based retention policy's interval in days: "The minimum retention interval for a time-based
#: retention policy is one day, and the maximum is 146,000 days (400 years)" (Microsoft, "Time-based
#: retention policies for immutable blob data")
RETENTION_DAYS = (1, 146_000)


class ArmError(Exception):
    """What ARM would answer with HTTP 400: ``code: message``."""


@dataclass
class Violation:
    code: str
    message: str


def _minutes(duration: str) -> int:
    match = re.fullmatch(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?", duration)
    if not match:
        return -1
    days, hours, minutes = (int(part or 0) for part in match.groups())
    return (days * 24 + hours) * 60 + minutes


def _name_rule(value: object, pattern: str, rule: str) -> Iterator[Violation]:
    if not isinstance(value, str) or not re.fullmatch(pattern, value):
        yield Violation("InvalidResourceName", f"the name {value!r} is invalid: {rule}")


def check_resource_group(inputs: Mapping[str, Any]) -> Iterator[Violation]:
    # 1-90 letters, digits, '_', '-', '.', '(' and ')', not ending in '.' (Microsoft's naming rules)
    yield from _name_rule(inputs.get("resourceGroupName"), r"[\w\-.()]{0,89}[\w\-()]", "1-90 characters")


def check_storage_account(inputs: Mapping[str, Any]) -> Iterator[Violation]:
    # AccountNameInvalid: "3 and 24 characters in length and use numbers and lower-case letters only"
    name = inputs.get("accountName")
    if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9]{3,24}", name):
        yield Violation("AccountNameInvalid", f"{name!r} is not a valid storage account name")


def check_container(inputs: Mapping[str, Any]) -> Iterator[Violation]:
    # 3-63 lowercase letters, digits and single hyphens, starting with a letter or a digit
    yield from _name_rule(inputs.get("containerName"), r"(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]", "3-63 [a-z0-9-]")


def check_immutability_policy(inputs: Mapping[str, Any]) -> Iterator[Violation]:
    # the API's only policy name is "default" (the path .../immutabilityPolicies/{immutabilityPolicyName}
    # is an enum of one in Azure/azure-rest-api-specs' blob.json)
    if inputs.get("immutabilityPolicyName") != "default":
        yield Violation("InvalidResourceName", "an immutability policy must be named 'default'")
    days = inputs.get("immutabilityPeriodSinceCreationInDays")
    if not (isinstance(days, int) and RETENTION_DAYS[0] <= days <= RETENTION_DAYS[1]):
        yield Violation(
            "BadRequest", f"immutabilityPeriodSinceCreationInDays {days!r} must be between 1 and 146000 days"
        )
    # "The 'allowProtectedAppendWrites' and 'allowProtectedAppendWritesAll' properties are mutually exclusive."
    if inputs.get("allowProtectedAppendWrites") and inputs.get("allowProtectedAppendWritesAll"):
        yield Violation("BadRequest", "allowProtectedAppendWrites and allowProtectedAppendWritesAll are exclusive")


def check_version_level_immutability(
    container: Mapping[str, Any], blob_service: Mapping[str, Any] | None, account: Mapping[str, Any] | None
) -> Iterator[Violation]:
    """A container with version-level immutability, given what the program registered before it for its
    account: "Version-level policies require that blob versioning is enabled for the storage account"
    (Microsoft, "Version-level WORM policies for immutable blob data"); the feature "isn't supported on
    hierarchical namespace accounts", nor with NFS 3.0 or SFTP, and "is incompatible with point-in-time
    restore and last access tracking" (Microsoft, "Store business-critical blob data with immutable
    storage"). ARM's exact error codes for these are not published; the stand-in answers BadRequest."""
    if not container.get("immutableStorageWithVersioning", {}).get("enabled"):
        return
    if blob_service is None or blob_service.get("isVersioningEnabled") is not True:
        yield Violation(
            "BadRequest",
            "version-level immutability needs blob versioning on the account first (the container was sent "
            "before a blob service with isVersioningEnabled: true)",
        )
    elif blob_service.get("restorePolicy", {}).get("enabled") or blob_service.get(
        "lastAccessTimeTrackingPolicy", {}
    ).get("enable"):
        yield Violation(
            "BadRequest",
            "version-level immutability is incompatible with point-in-time restore and last access tracking",
        )
    if account and any(account.get(key) for key in ("isHnsEnabled", "isNfsV3Enabled", "isSftpEnabled")):
        yield Violation(
            "BadRequest", "version-level immutability is not supported with a hierarchical namespace, NFS 3.0 or SFTP"
        )


def check_queue(inputs: Mapping[str, Any]) -> Iterator[Violation]:
    # 3-63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit
    # (Queue service, "Naming queues and metadata")
    yield from _name_rule(inputs.get("queueName"), r"(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]", "3-63 [a-z0-9-]")


def check_vault(inputs: Mapping[str, Any]) -> Iterator[Violation]:
    # VaultNameNotValid: 3-24 alphanumerics and hyphens, a letter first, no consecutive hyphens
    name = inputs.get("vaultName")
    if not isinstance(name, str) or not re.fullmatch(r"(?!.*--)[A-Za-z][A-Za-z0-9-]{1,22}[A-Za-z0-9]", name):
        yield Violation("VaultNameNotValid", f"the vault name {name!r} is not valid")
    for policy in inputs.get("properties", {}).get("accessPolicies", []):
        if not GUID.fullmatch(str(policy.get("objectId", ""))):
            yield Violation("BadRequest", f"an access policy has no valid objectId ({policy.get('objectId')!r})")


def check_plan(inputs: Mapping[str, Any]) -> Iterator[Violation]:
    yield from _name_rule(inputs.get("name"), r"[A-Za-z0-9-]{1,60}", "1-60 letters, digits and hyphens")
    if inputs.get("sku", {}).get("name") == "FC1" and inputs.get("reserved") is not True:
        yield Violation("BadRequest", "Flex Consumption plans are Linux only: reserved must be true")


def check_web_app(inputs: Mapping[str, Any]) -> Iterator[Violation]:
    # 2-60 letters, digits and hyphens, not starting or ending with a hyphen (globally unique host name)
    yield from _name_rule(inputs.get("name"), r"[A-Za-z0-9][A-Za-z0-9-]{0,58}[A-Za-z0-9]", "2-60 [A-Za-z0-9-]")
    config = inputs.get("functionAppConfig")
    if not config:
        return
    for key in sorted(set(inputs.get("siteConfig", {})) & FLEX_REFUSED_SITE_CONFIG):
        yield Violation(
            "51021",
            f"The following site configuration property (Site.SiteConfig.{key[0].upper()}{key[1:]}) for Flex "
            "Consumption sites is invalid. Please remove or rename it before retrying.",
        )
    settings = {s.get("name") for s in inputs.get("siteConfig", {}).get("appSettings", [])}
    for name in sorted(settings & FLEX_REFUSED_APP_SETTINGS):
        yield Violation("BadRequest", f"The app setting {name} is not supported for Flex Consumption sites.")
    memory = config.get("scaleAndConcurrency", {}).get("instanceMemoryMB")
    if memory not in FLEX_INSTANCE_MEMORY_MB:
        yield Violation("BadRequest", f"instanceMemoryMB {memory} is not supported; use 2048 or 4096")
    # "the lowest maximum instance count value is 1, and the highest supported ... is 1000" (event-driven scaling)
    maximum = config.get("scaleAndConcurrency", {}).get("maximumInstanceCount")
    if maximum is not None and not (
        isinstance(maximum, int) and FLEX_INSTANCE_COUNT[0] <= maximum <= FLEX_INSTANCE_COUNT[1]
    ):
        yield Violation("BadRequest", f"maximumInstanceCount {maximum!r} must be between 1 and 1000")
    runtime = config.get("runtime", {})
    if runtime.get("name") == "python" and runtime.get("version") not in FLEX_PYTHON_CATALOG:
        yield Violation(
            "HostNeverStarts",
            f"python {runtime.get('version')} is not in the region's Flex Consumption catalog: ARM accepts it, "
            "but the host never starts",
        )
    storage = config.get("deployment", {}).get("storage", {})
    if storage.get("authentication", {}).get("type") == "SystemAssignedIdentity" and "SystemAssigned" not in str(
        inputs.get("identity", {}).get("type")
    ):
        yield Violation("BadRequest", "deployment storage by system-assigned identity needs that identity")


def check_workspace(inputs: Mapping[str, Any]) -> Iterator[Violation]:
    yield from _name_rule(inputs.get("workspaceName"), r"[A-Za-z0-9][A-Za-z0-9-]{2,61}[A-Za-z0-9]", "4-63 [A-Za-z0-9-]")


def check_action_group(inputs: Mapping[str, Any]) -> Iterator[Violation]:
    if not 1 <= len(str(inputs.get("groupShortName", ""))) <= 12:
        yield Violation("BadRequest", "groupShortName must have 1-12 characters")


def check_scheduled_query_rule(inputs: Mapping[str, Any]) -> Iterator[Violation]:
    frequency, window = inputs.get("evaluationFrequency"), inputs.get("windowSize")
    if frequency not in ALERT_FREQUENCIES:
        yield Violation("BadRequest", f"evaluationFrequency {frequency!r} is not supported")
    if window not in ALERT_WINDOWS:
        yield Violation("BadRequest", f"windowSize {window!r} is not supported")
    if isinstance(frequency, str) and isinstance(window, str) and _minutes(frequency) > _minutes(window):
        yield Violation("BadRequest", "evaluationFrequency must not be longer than windowSize")
    for condition in inputs.get("criteria", {}).get("allOf", []):
        if condition.get("operator") not in ALERT_OPERATORS:
            yield Violation("BadRequest", f"operator {condition.get('operator')!r} is not valid")
        periods = condition.get("failingPeriods", {"numberOfEvaluationPeriods": 1, "minFailingPeriodsToAlert": 1})
        number, minimum = periods.get("numberOfEvaluationPeriods"), periods.get("minFailingPeriodsToAlert")
        if not (isinstance(number, int) and isinstance(minimum, int) and 1 <= minimum <= number <= 6):
            yield Violation("BadRequest", f"failingPeriods {periods} must be 1 <= minFailing <= number <= 6")
        if not inputs.get("skipQueryValidation"):
            # Azure Monitor validates the query against the scope's tables when the rule is saved
            for problem in diagnostics(str(condition.get("query", ""))):
                yield Violation("BadRequest", f"the query is not valid KQL: {problem}")


def check_role_assignment(inputs: Mapping[str, Any], principal_types: Mapping[str, str]) -> Iterator[Violation]:
    principal = inputs.get("principalId")
    if not isinstance(principal, str) or not GUID.fullmatch(principal):
        # "The request is invalid... principalId" (ARM answers 400 for a missing or malformed principal)
        yield Violation("InvalidPrincipalId", f"a valid principal ID must be provided, not {principal!r}")
    if not GUID.fullmatch(str(inputs.get("roleAssignmentName", ""))):
        yield Violation("InvalidRoleAssignmentId", "the role assignment name must be a GUID")
    definition = str(inputs.get("roleDefinitionId", ""))
    if not re.fullmatch(
        r"/subscriptions/[^/]+/providers/Microsoft\.Authorization/roleDefinitions/" + GUID.pattern, definition
    ):
        yield Violation("InvalidRoleDefinitionId", f"{definition!r} is not a role definition id")
    principal_type = inputs.get("principalType")
    if principal_type is not None and principal_type not in PRINCIPAL_TYPES:
        yield Violation("BadRequest", f"principalType {principal_type!r} is not valid")
    actual = principal_types.get(str(principal))
    if principal_type is not None and actual is not None and principal_type != actual:
        yield Violation(
            "UnmatchedPrincipalType",
            f"The PrincipalId '{principal}' has type '{actual}', which is different from specified "
            f"PrincipalType '{principal_type}'.",
        )
    if not str(inputs.get("scope", "")).startswith("/subscriptions/"):
        yield Violation("InvalidScope", f"{inputs.get('scope')!r} is not a scope")


RULES: dict[str, Callable[[Mapping[str, Any]], Iterator[Violation]]] = {
    "azure-native:resources:ResourceGroup": check_resource_group,
    "azure-native:storage:StorageAccount": check_storage_account,
    "azure-native:storage:BlobContainer": check_container,
    "azure-native:storage:Queue": check_queue,
    "azure-native:storage:BlobContainerImmutabilityPolicy": check_immutability_policy,
    "azure-native:keyvault:Vault": check_vault,
    "azure-native:web:AppServicePlan": check_plan,
    "azure-native:web:WebApp": check_web_app,
    "azure-native:operationalinsights:Workspace": check_workspace,
    "azure-native:monitor:ActionGroup": check_action_group,
    "azure-native:monitor:ScheduledQueryRule": check_scheduled_query_rule,
}


def plain(value: Any, secrets: set[str], path: str = "") -> Any:
    """``value`` without Pulumi's secret wrappers; the paths that were secret go into ``secrets``."""
    if isinstance(value, dict):
        if value.get(_special_sig_key) == _special_secret_sig:
            secrets.add(path)
            return plain(value.get("value"), secrets, path)
        return {key: plain(item, secrets, f"{path}.{key}".lstrip(".")) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item, secrets, path) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)  # a protobuf Struct carries every number as a double; ARM reads JSON numbers
    return value


def wire_inputs(request: Any) -> tuple[dict[str, Any], set[str]]:
    """A RegisterResource request's properties as the engine receives them, and which paths are secret."""
    secrets: set[str] = set()
    serialized = json_format.MessageToDict(request.object, preserving_proto_field_name=True)
    return plain(serialized, secrets), secrets


# --- the monitor and the mocks -------------------------------------------------------------------------


@dataclass
class Registered:
    """One resource as the engine received it: its serialized inputs and the id ARM gave it."""

    typ: str
    name: str
    inputs: dict[str, Any]
    id: str
    secret_inputs: set[str]

    @property
    def azure_name(self) -> str:
        return str(self.inputs[NAME_INPUT[self.typ]])


class ArmMonitor(MockMonitor):
    """The mocks' resource monitor, checking each request's serialized inputs by ARM's rules first."""

    def __init__(self, mocks: ArmMocks) -> None:
        super().__init__(mocks)
        self.arm = mocks
        self.dependencies: dict[str, list[str]] = {}
        #: the resource options the engine received, by type, name and parent URN: what `pulumi destroy`
        #: and later updates will do with the resource (``retainOnDelete``, ``ignoreChanges``, ``protect``)
        self.options: dict[tuple[str, str, str], dict[str, Any]] = {}

    def RegisterResource(self, request: Any) -> Any:
        if request.type != "pulumi:pulumi:Stack":
            inputs, secrets = wire_inputs(request)
            self.arm.check(request.type, request.name, inputs, secrets)
        self.dependencies[request.name] = list(request.dependencies)
        self.options[(request.type, request.name, request.parent)] = {
            "retainOnDelete": bool(request.retainOnDelete),
            "ignoreChanges": list(request.ignoreChanges),
            "protect": bool(request.protect),
            "dependsOn": list(request.dependencies),
        }
        register: Callable[[Any], Any] = super().RegisterResource  # untyped in the SDK
        return register(request)


@dataclass
class ArmMocks(pulumi.runtime.Mocks):
    """Answers like ARM: ids, names, the app's identity and host names, blob endpoints, the client config."""

    principal_id: str = "22222222-0000-0000-0000-000000000a99"
    location: str = "westeurope"
    deployer_type: str = "ServicePrincipal"
    """What signs in to run `pulumi up`: a CI service principal here; a person would be a ``User``."""
    strict: bool = True
    """Raise at a refused resource, failing the program; False only records the refusal (in ``refused``)."""
    registered: list[Registered] = field(default_factory=list)
    refused: list[tuple[str, Violation]] = field(default_factory=list)
    _wire: dict[str, tuple[dict[str, Any], set[str]]] = field(default_factory=dict)

    def check(self, typ: str, name: str, inputs: dict[str, Any], secrets: set[str]) -> None:
        if typ == "azure-native:authorization:RoleAssignment":
            kinds = {DEPLOYER: self.deployer_type, self.principal_id: "ServicePrincipal"}
            violations = list(check_role_assignment(inputs, kinds))
        else:
            rule = RULES.get(typ)
            violations = list(rule(inputs)) if rule else []
        if typ == "azure-native:storage:BlobContainer":
            violations += check_version_level_immutability(
                inputs,
                self._sent("azure-native:storage:BlobServiceProperties", inputs.get("accountName")),
                self._sent("azure-native:storage:StorageAccount", inputs.get("accountName")),
            )
        if violations:
            self.refused.extend((name, violation) for violation in violations)
            details = "; ".join(f"{v.code}: {v.message}" for v in violations)
            if self.strict:
                raise ArmError(f"{typ} {name}: {details}")
        self._wire[name] = (inputs, secrets)

    def _sent(self, typ: str, account_name: object) -> dict[str, Any] | None:
        """The inputs of the ``typ`` resource of storage account ``account_name`` ARM has already created."""
        found = [r.inputs for r in self.registered if r.typ == typ and r.inputs.get("accountName") == account_name]
        return found[-1] if found else None

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        inputs, secrets = self._wire.pop(args.name, (plain(dict(args.inputs), set()), set()))
        state = dict(args.inputs)
        name_input = NAME_INPUT.get(args.typ)
        azure_name = inputs[name_input] if name_input else args.name
        group = inputs.get("resourceGroupName", "")
        provider = args.typ.removeprefix("azure-native:").replace(":", "/")
        resource_id = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{group}/providers/{provider}/{azure_name}"
        if name_input:
            state["name"] = azure_name
        if args.typ == "azure-native:resources:ResourceGroup":
            resource_id = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{azure_name}"
        elif args.typ == "azure-native:storage:StorageAccount":
            resource_id = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{group}/providers/Microsoft.Storage/storageAccounts/{azure_name}"  # noqa: E501
            state["primaryEndpoints"] = {
                "blob": f"https://{azure_name}.blob.core.windows.net/",
                "queue": f"https://{azure_name}.queue.core.windows.net/",
            }
        elif args.typ == "azure-native:storage:BlobContainer":
            account = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{group}/providers/Microsoft.Storage/storageAccounts/{inputs['accountName']}"  # noqa: E501
            resource_id = f"{account}/blobServices/default/containers/{azure_name}"
        elif args.typ == "azure-native:storage:BlobContainerImmutabilityPolicy":
            account = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{group}/providers/Microsoft.Storage/storageAccounts/{inputs['accountName']}"  # noqa: E501
            resource_id = (
                f"{account}/blobServices/default/containers/{inputs['containerName']}/immutabilityPolicies/default"
            )
        elif args.typ == "azure-native:storage:Queue":
            account = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{group}/providers/Microsoft.Storage/storageAccounts/{inputs['accountName']}"  # noqa: E501
            resource_id = f"{account}/queueServices/default/queues/{azure_name}"
        elif args.typ == "azure-native:web:WebApp":
            # a unique default host name, as new apps get: the SCM host cannot be guessed from the app's name
            host = f"{azure_name}-b6cqg2frgqcxgub4.{self.location}-01.azurewebsites.net"
            scm = f"{azure_name}-b6cqg2frgqcxgub4.scm.{self.location}-01.azurewebsites.net"
            state["identity"] = {"type": "SystemAssigned", "principalId": self.principal_id, "tenantId": TENANT}
            state["defaultHostName"] = host
            state["hostNameSslStates"] = [
                {"name": host, "hostType": "Standard", "sslState": "Disabled"},
                {"name": scm, "hostType": "Repository", "sslState": "Disabled"},
            ]
        elif args.typ == "azure-native:keyvault:Vault":
            state["properties"] = {**inputs["properties"], "vaultUri": f"https://{azure_name}.vault.azure.net/"}
        elif args.typ == "azure-native:applicationinsights:Component":
            state["connectionString"] = CONNECTION_STRING
        elif args.typ == "azure-native:authorization:RoleAssignment":
            resource_id = f"{inputs['scope']}/providers/Microsoft.Authorization/roleAssignments/{azure_name}"
        if args.custom:  # component resources exist only in Pulumi
            self.registered.append(Registered(args.typ, args.name, inputs, resource_id, secrets))
        return resource_id, state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        if args.token == "azure-native:authorization:getClientConfig":
            return {"clientId": "cli", "objectId": DEPLOYER, "subscriptionId": SUBSCRIPTION, "tenantId": TENANT}, []
        raise NotImplementedError(args.token)
