"""@kubernetes and @resources → the pod a step runs in (kubernetes target)."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Optional

from ..errors import CompileError
from ..escaping import airflow_literal, for_field
from ..kube_syntax import (
    DNS_LABEL,
    DNS_SUBDOMAIN,
    LABEL_VALUE,
    MAX_RESOURCE_COUNT,
    quantity_value,
    toleration_seconds,
    valid_key,
)
from ..model import JsonObject, PodDefaults, PodSpec, Toleration
from ..org_config import OrgConfig
from .context import FlowContext
from .validation import check_kubernetes_options

_TOLERATION_KEYS = {
    "key": "key",
    "operator": "operator",
    "value": "value",
    "effect": "effect",
    "toleration_seconds": "toleration_seconds",
    "tolerationSeconds": "toleration_seconds",
}
# @kubernetes options that only matter together with an unsupported or ignored feature.
_HANDLED_ELSEWHERE = {
    "use_tmpfs",
    "tmpfs_size",
    "tmpfs_tempdir",
    "tmpfs_path",
    "persistent_volume_claims",
    "image_pull_policy",
    "compute_pool",  # merged into node_selector by the decorator itself
    "hostname_resolution_timeout",  # only used by @parallel, which is rejected
    "qos",  # shapes requests/limits below
}
_MAPPED = {
    "cpu",
    "memory",
    "disk",
    "gpu",
    "gpu_vendor",
    "image",
    "namespace",
    "service_account",
    "secrets",
    "node_selector",
    "tolerations",
    "labels",
    "annotations",
    "extended_resources",
    "shared_memory",
    "port",
    "image_pull_secrets",
    "security_context",
}
# Fields of the Kubernetes client's V1SecurityContext (what Metaflow passes it as keywords).
SECURITY_CONTEXT_FIELDS = (
    "allow_privilege_escalation",
    "app_armor_profile",
    "capabilities",
    "privileged",
    "proc_mount",
    "read_only_root_filesystem",
    "run_as_group",
    "run_as_non_root",
    "run_as_user",
    "se_linux_options",
    "seccomp_profile",
    "windows_options",
)


def kubernetes_attributes(ctx: FlowContext, step: str, org: Optional[OrgConfig] = None) -> dict:
    """The step's effective @kubernetes attributes: its own decorator, or the defaults.

    A step without @kubernetes gets the decorator's defaults from Metaflow's configuration
    (METAFLOW_KUBERNETES_*) merged with its @resources, as Metaflow does when it attaches
    @kubernetes to every step of a deployed flow.
    """
    from metaflow.plugins.kubernetes.kubernetes_decorator import KubernetesDecorator

    deco = ctx.step_decorator(step, "kubernetes")
    if deco is not None:
        attrs = dict(deco.attributes)
        return _with_org_defaults(attrs, getattr(deco, "_user_defined_attributes", set()), org)
    fresh = KubernetesDecorator()
    fresh.external_init()
    attrs = dict(fresh.attributes)
    resources = ctx.step_decorator(step, "resources")
    if resources is not None:
        for key, value in resources.attributes.items():
            if value is None or key not in attrs:
                continue
            if key in ("gpu", "shared_memory"):
                attrs[key] = value
            elif fresh.defaults.get(key) is not None:
                attrs[key] = str(max(float(attrs[key] or 0), float(value or 0)))
    return _with_org_defaults(attrs, set(), org)


def _with_org_defaults(attrs: dict, user_set: set, org: Optional[OrgConfig]) -> dict:
    """Organization defaults for what the step's decorator does not set itself."""
    if org is None:
        return attrs
    for key in ("image", "namespace", "service_account"):
        if key not in user_set and getattr(org, key):
            attrs[key] = getattr(org, key)
    if "node_selector" not in user_set and org.node_selector:
        attrs["node_selector"] = dict(org.node_selector)
    if "tolerations" not in user_set and org.tolerations:
        attrs["tolerations"] = [dict(t) for t in org.tolerations]
    for key in ("labels", "annotations"):
        own = attrs.get(key) or {}
        if isinstance(own, dict):
            attrs[key] = {**dict(getattr(org, key)), **own}
    return attrs


def analyze_pod(
    ctx: FlowContext,
    step: str,
    system_labels: dict,
    system_annotations: dict,
    org: Optional[OrgConfig] = None,
) -> PodSpec:
    """The pod of one step, validated against Kubernetes' naming rules."""
    from metaflow.metaflow_config import KUBERNETES_SECRETS

    attrs = kubernetes_attributes(ctx, step, org)
    check_kubernetes_options(ctx, step, attrs)
    where = {"step": step, "location": ctx.step_location(step)}
    unknown = sorted(
        key
        for key, value in attrs.items()
        if key not in _MAPPED | _HANDLED_ELSEWHERE and value not in (None, {}, [], False)
    )
    if unknown:
        raise CompileError(
            f"@kubernetes({unknown[0]}=...) is not supported by mfairflow yet",
            hint=f"remove {unknown[0]} from @kubernetes (or its METAFLOW_KUBERNETES_* setting)",
            **where,
        )
    cpu = _quantity(attrs.get("cpu") or "1", "cpu", where)
    memory = _quantity(attrs.get("memory") or "4096", "memory", where)
    disk = _quantity(attrs.get("disk") or "10240", "disk", where)
    gpu = _gpu(attrs.get("gpu"), where)
    vendor = str(attrs.get("gpu_vendor") or "nvidia").lower()
    if vendor not in ("nvidia", "amd"):
        raise CompileError(
            f"@kubernetes(gpu_vendor={vendor!r}) is not supported",
            hint="use gpu_vendor='nvidia' or 'amd'",
            **where,
        )
    qos = str(attrs.get("qos") or "burstable").lower()
    resources = {"cpu": cpu, "memory": f"{memory}M", "ephemeral-storage": f"{disk}M"}
    extended = {  # the pod operator renders requests and limits: escape flow strings there
        key: for_field("V1ResourceRequirements", "requests", value)
        for key, value in _extended_resources(attrs.get("extended_resources"), where).items()
    }
    for key in sorted(extended):
        resources[key] = extended[key]
    limits = dict(resources) if qos == "guaranteed" else {}
    for key in sorted(extended):  # extended resources cannot be overcommitted: limit = request
        limits[key] = extended[key]
    if gpu:
        limits[f"{vendor}.com/gpu"] = str(gpu)
    secrets = _secrets(attrs.get("secrets")) + _secrets(KUBERNETES_SECRETS)
    # System labels and annotations win over the step's own (as in Metaflow); the DAG file
    # holds the system ones once (POD_LABELS, POD_ANNOTATIONS) and each task only its own.
    labels = _mapping(attrs.get("labels"), "labels", where)
    labels = {k: v for k, v in labels.items() if k not in system_labels}
    annotations = _mapping(attrs.get("annotations"), "annotations", where)
    annotations = {k: v for k, v in annotations.items() if k not in system_annotations}
    for key, value in {**system_labels, **labels}.items():
        _check_label(key, value, where)
    for key in {**system_annotations, **annotations}:
        _check_key(key, "annotation", where)
    node_selector = _mapping(attrs.get("node_selector"), "node_selector", where)
    for key, value in node_selector.items():
        _check_label(key, value, where)
    image = attrs.get("image") or _default_image()
    namespace = attrs.get("namespace") or "default"
    if not DNS_LABEL.fullmatch(str(namespace)):
        raise CompileError(
            f"@kubernetes(namespace={namespace!r}) is not a valid Kubernetes namespace",
            hint="use lowercase letters, digits and '-' (at most 63 characters)",
            **where,
        )
    account = attrs.get("service_account")
    if account and not DNS_SUBDOMAIN.fullmatch(str(account)):
        raise CompileError(
            f"@kubernetes(service_account={account!r}) is not a valid service account name",
            hint="use lowercase letters, digits, '-' and '.'",
            **where,
        )
    return PodSpec(
        image=airflow_literal(str(image)),
        namespace=str(namespace),
        service_account=str(account) if account else None,
        cpu=cpu,
        memory=memory,
        disk=disk,
        gpu=gpu,
        gpu_vendor=vendor,
        requests=tuple(resources.items()),
        limits=tuple(limits.items()),
        secrets=_checked_secrets(secrets, where),
        node_selector=escaped_pairs(node_selector),
        tolerations=_tolerations(attrs.get("tolerations"), where),
        labels=escaped_pairs(labels),
        annotations=escaped_pairs(annotations),
        shared_memory_mb=_whole(attrs.get("shared_memory"), "shared_memory", where),
        port=_port(attrs.get("port"), where),
        image_pull_secrets=_pull_secrets(attrs.get("image_pull_secrets"), where),
        security_context=_security_context(attrs.get("security_context"), where),
    )


def pod_defaults(pods: list[PodSpec]) -> PodDefaults:
    """The settings most of the pods share (the first step's on a tie), so that the DAG file
    states them once."""
    from collections import Counter

    def most_common(values: list):
        counts = Counter(values)
        return max(values, key=lambda value: counts[value])  # max keeps the first on a tie

    sizes = most_common([(pod.requests, pod.limits) for pod in pods])
    return PodDefaults(
        image=most_common([pod.image for pod in pods]),
        namespace=most_common([pod.namespace for pod in pods]),
        service_account=most_common([pod.service_account for pod in pods]),
        requests=sizes[0],
        limits=sizes[1],
        secrets=most_common([pod.secrets for pod in pods]),
    )


def system_pod_metadata(
    username: str, flow_name: str, token: str, project: Optional[tuple[str, str, str]]
) -> tuple[dict, dict]:
    """Labels and annotations every pod carries (Metaflow's own, for its tooling)."""
    labels = {
        "app": "metaflow",
        "app.kubernetes.io/name": "metaflow-task",
        "app.kubernetes.io/part-of": "metaflow",
    }
    creator = sanitize_label_value(username)
    if creator:
        labels["app.kubernetes.io/created-by"] = creator
    annotations = {
        "metaflow/production_token": token,
        "metaflow/owner": username,
        "metaflow/user": username,
        "metaflow/flow_name": flow_name,
    }
    if project:
        name, branch, project_flow = project
        annotations["metaflow/project_name"] = name
        annotations["metaflow/branch_name"] = branch
        annotations["metaflow/project_flow_name"] = project_flow
    return labels, annotations


def org_placement(
    org: Optional[OrgConfig], location: str
) -> tuple[tuple[tuple[str, str], ...], tuple[Toleration, ...]]:
    """The organization's node selector and tolerations, for pods that run no step (the
    exit hooks: they follow the organization's placement, not any one step's)."""
    attrs = _with_org_defaults({}, set(), org)
    where = {"location": location}
    node_selector = _mapping(attrs.get("node_selector"), "node_selector", where)
    for key, value in node_selector.items():
        _check_label(key, value, where)
    return escaped_pairs(node_selector), _tolerations(attrs.get("tolerations"), where)


def escaped_pairs(mapping: dict) -> tuple[tuple[str, str], ...]:
    """(key, value) pairs of a string mapping whose values Airflow renders (keys it does not)."""
    return tuple((k, airflow_literal(v)) for k, v in mapping.items())


def sanitize_label_value(value: str) -> str:
    """A valid label value derived from ``value`` (for system labels such as the user name)."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "-", value)[:63]
    return re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", cleaned)


def _default_image() -> str:
    from metaflow.metaflow_config import KUBERNETES_CONTAINER_IMAGE, KUBERNETES_CONTAINER_REGISTRY

    if KUBERNETES_CONTAINER_IMAGE:
        image = KUBERNETES_CONTAINER_IMAGE
    else:
        import platform

        major, minor, _ = platform.python_version_tuple()
        image = f"python:{major}.{minor}"
    if KUBERNETES_CONTAINER_REGISTRY and "/" not in image.split(":")[0]:
        image = f"{KUBERNETES_CONTAINER_REGISTRY.rstrip('/')}/{image}"
    return image


def _quantity(value, what: str, where: dict) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if not number > 0 or number != number or number == float("inf"):
        raise CompileError(
            f"@kubernetes({what}={value!r}) must be a positive number",
            hint=f"pass {what} as a number, e.g. {what}=2"
            + (" (megabytes)" if what != "cpu" else ""),
            **where,
        )
    if number.is_integer():
        return str(int(number))
    from decimal import Decimal

    return format(Decimal(repr(number)), "f")  # Kubernetes quantities: no "1e-07M"


def _gpu(value, where: dict) -> Optional[int]:
    """The GPU count of a pod (None or 0: no GPU), as Metaflow's pods accept it.

    Metaflow's own check in the pod takes an int or a string of a whole number; a float, a
    bool, a negative or a count beyond what Kubernetes counts is an error here instead.
    """
    if value in (None, "") or (value == 0 and not isinstance(value, bool)):
        return None
    count = None
    if isinstance(value, int) and not isinstance(value, bool):
        count = value
    elif isinstance(value, str):
        try:  # as Metaflow reads it in the pod: float("2.0") and float("1e3") are whole
            amount = Decimal(value.strip())
            accepted = float(value) == float(value)  # Metaflow's float(): no "1_0", no "NaN"
        except (ArithmeticError, ValueError):
            amount, accepted = None, False
        if accepted and amount.is_finite() and amount == amount.to_integral_value():
            count = int(amount)
    if count is None or not 0 <= count <= MAX_RESOURCE_COUNT:
        raise CompileError(
            f"@kubernetes(gpu={value!r}) must be a whole number of GPUs from 0 to "
            f"{MAX_RESOURCE_COUNT}",
            hint="pass gpu as an int, e.g. gpu=1 (0 or None for no GPU)",
            **where,
        )
    return count or None


def _extended_resources(value, where: dict) -> dict:
    """@kubernetes(extended_resources=...): resource name → amount, as Kubernetes takes them.

    An extended resource is a domain-qualified name outside kubernetes.io (``example.com/fpga``)
    whose amount is a whole, positive quantity (Kubernetes cannot overcommit or split it).
    """
    if not value:
        return {}
    if not isinstance(value, dict):
        raise CompileError(
            f"@kubernetes(extended_resources=...) must be a dict, not {type(value).__name__}",
            hint="pass extended_resources as a dict, e.g. {'example.com/fpga': 1}",
            **where,
        )
    resources = {}
    for name, amount in value.items():
        prefix = str(name).rpartition("/")[0]
        if (
            not isinstance(name, str)
            or not prefix
            or not valid_key(name)
            or "kubernetes.io/" in name
            or name.startswith("requests.")
        ):
            raise CompileError(
                f"@kubernetes(extended_resources=...) has the resource name {name!r}, which is "
                "not an extended resource name",
                hint="name it by a domain outside kubernetes.io, then '/', then the resource, "
                "e.g. 'example.com/fpga' (gpu=... asks for GPUs)",
                **where,
            )
        text = str(amount).strip() if isinstance(amount, (str, int, float)) else None
        if isinstance(amount, bool):
            text = None
        quantity = quantity_value(text) if text is not None else None
        if (
            quantity is None
            or quantity <= 0
            or quantity != quantity.to_integral_value()
            or quantity > MAX_RESOURCE_COUNT
        ):
            raise CompileError(
                f"@kubernetes(extended_resources={{{name!r}: {amount!r}}}) must be a whole, "
                f"positive Kubernetes quantity of at most {MAX_RESOURCE_COUNT}",
                hint="pass a count such as 1, '2' or '1k' (extended resources cannot be split); "
                "remove the entry to ask for none",
                **where,
            )
        resources[name] = text
    return resources


def _whole(value, what: str, where: dict) -> Optional[int]:
    """A positive whole number option (megabytes for shared_memory), or None when unset."""
    if value in (None, "", 0, "0"):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if number <= 0 or not number.is_integer():
        raise CompileError(
            f"@kubernetes({what}={value!r}) must be a positive whole number",
            hint=f"pass {what} as a whole number, e.g. {what}=1024 (megabytes)",
            **where,
        )
    return int(number)


def _port(value, where: dict) -> Optional[int]:
    if value in (None, ""):
        return None
    port = _whole(value, "port", where)
    if port is None or port > 65535:
        raise CompileError(
            f"@kubernetes(port={value!r}) is not a port number",
            hint="pass a port between 1 and 65535, e.g. port=8080",
            **where,
        )
    return port


def _pull_secrets(value, where: dict) -> tuple[str, ...]:
    return _checked_secrets(_secrets(value), where, "@kubernetes(image_pull_secrets=...)")


def _security_context(value, where: dict) -> Optional[JsonObject]:
    if not value:
        return None
    if not isinstance(value, dict):
        raise CompileError(
            f"@kubernetes(security_context={value!r}) is not a dict",
            hint="pass a dict of security context fields, e.g. {'run_as_user': 1000}",
            **where,
        )
    for key in value:
        if key not in SECURITY_CONTEXT_FIELDS:
            raise CompileError(
                f"@kubernetes(security_context=...) has no field {key!r}",
                hint="use the Kubernetes client's names: " + ", ".join(SECURITY_CONTEXT_FIELDS),
                **where,
            )
    return _json_object(value, where)


def _json_object(value, where: dict):
    """The security context as the Kubernetes API writes it (camelCase keys, as the operator
    passes a dict on unchanged), in model data: dicts become JsonObject, lists tuples. The
    operator does not template this field, so strings stay as they are."""
    if isinstance(value, dict):
        return JsonObject((_camel(str(k)), _json_object(v, where)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return tuple(_json_object(v, where) for v in value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise CompileError(
        f"@kubernetes(security_context=...) holds a {type(value).__name__}",
        hint="use strings, numbers, booleans, lists and dicts only",
        **where,
    )


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _secrets(value) -> list[str]:
    if not value:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return [str(part) for part in value]


def _checked_secrets(
    secrets: list[str],
    where: dict,
    given_in: str = "@kubernetes(secrets=...) and METAFLOW_KUBERNETES_SECRETS",
) -> tuple[str, ...]:
    for name in secrets:
        if not DNS_SUBDOMAIN.fullmatch(name) or ".." in name or len(name) > 253:
            raise CompileError(
                f"{name!r} is not a valid Kubernetes secret name",
                hint=f"secret names are lowercase letters, digits, '-' and '.' (check {given_in})",
                **where,
            )
    return tuple(dict.fromkeys(secrets))


def _mapping(value, what: str, where: dict) -> dict:
    if not value:
        return {}
    if isinstance(value, str):
        pairs = [part.split("=", 1) for part in value.split(",") if part.strip()]
        if any(len(pair) != 2 for pair in pairs):
            raise CompileError(
                f"@kubernetes({what}={value!r}) is not a list of key=value pairs",
                hint=f"pass {what} as a dict, e.g. {{'key': 'value'}}",
                **where,
            )
        return {k.strip(): v.strip() for k, v in pairs}
    if not isinstance(value, dict):
        raise CompileError(
            f"@kubernetes({what}=...) must be a dict, not {type(value).__name__}",
            hint=f"pass {what} as a dict, e.g. {{'key': 'value'}}",
            **where,
        )
    return {str(k): "" if v is None else str(v) for k, v in value.items()}


def _check_key(key: str, what: str, where: dict) -> None:
    if not valid_key(key):
        raise CompileError(
            f"{key!r} is not a valid Kubernetes {what} key",
            hint="use an optional DNS prefix and '/', then up to 63 letters, digits, '-', '_' "
            "or '.', starting and ending with a letter or digit",
            **where,
        )


def _check_label(key: str, value: str, where: dict) -> None:
    _check_key(key, "label", where)
    if not LABEL_VALUE.fullmatch(value):
        raise CompileError(
            f"{value!r} is not a valid Kubernetes label value (label {key!r})",
            hint="use at most 63 letters, digits, '-', '_' or '.', starting and ending with a "
            "letter or digit; put free text in annotations instead",
            **where,
        )


def _tolerations(value, where: dict) -> tuple[Toleration, ...]:
    if not value:
        return ()
    if isinstance(value, str):
        value = json.loads(value)
    result = []
    for item in value:
        if not isinstance(item, dict) or any(k not in _TOLERATION_KEYS for k in item):
            raise CompileError(
                f"@kubernetes(tolerations=...) has an invalid toleration {item!r}",
                hint="each toleration is a dict with keys key, operator, value, effect, "
                "toleration_seconds",
                **where,
            )
        fields = {_TOLERATION_KEYS[k]: v for k, v in item.items()}
        _check_toleration(fields, item, where)
        try:
            seconds = toleration_seconds(fields.get("toleration_seconds"))
        except ValueError:
            raise CompileError(
                f"@kubernetes(tolerations=...) has a toleration_seconds that is not a whole "
                f"number of seconds in {item!r}",
                hint="pass toleration_seconds as a whole number, e.g. 300",
                **where,
            ) from None
        result.append(
            Toleration(
                key=_opt_str(fields.get("key")),
                operator=_opt_str(fields.get("operator")),
                value=_opt_str(fields.get("value")),
                effect=_opt_str(fields.get("effect")),
                toleration_seconds=seconds,
            )
        )
    return tuple(result)


def _check_toleration(fields: dict, item: dict, where: dict) -> None:
    problems = []
    if fields.get("key") is not None and not valid_key(str(fields["key"])):
        problems.append("key")
    if fields.get("value") is not None and not LABEL_VALUE.fullmatch(str(fields["value"])):
        problems.append("value")
    if fields.get("operator") not in (None, "Equal", "Exists"):
        problems.append("operator")
    if fields.get("effect") not in (None, "NoSchedule", "PreferNoSchedule", "NoExecute"):
        problems.append("effect")
    if problems:
        raise CompileError(
            f"@kubernetes(tolerations=...) has an invalid {' and '.join(problems)} in {item!r}",
            hint="key and value follow label syntax; operator is Equal or Exists; effect is "
            "NoSchedule, PreferNoSchedule or NoExecute",
            **where,
        )


def _opt_str(value) -> Optional[str]:
    return None if value is None else str(value)  # tolerations are not templated by Airflow
