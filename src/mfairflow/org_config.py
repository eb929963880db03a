"""The organization config (`mfairflow.yaml`): defaults an organization sets once.

Precedence, strongest first: command-line option > decorator on the step > organization config
> built-in default. The file is found next to the flow file or in a folder above it, or given with
`--config FILE`. Unknown keys and wrong types are errors naming the key and the file:line.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Tuple

from .errors import CompileError
from .kube_syntax import (
    DNS_SUBDOMAIN,
    LABEL_VALUE,
    toleration_problems,
    toleration_seconds,
    valid_key,
)

CONFIG_NAME = "mfairflow.yaml"
_CALLABLE_PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$", re.ASCII)


@dataclass(frozen=True)
class OrgConfig:
    """Organization defaults; empty values mean "not set"."""

    path: Optional[str] = None
    image: Optional[str] = None
    namespace: Optional[str] = None
    service_account: Optional[str] = None
    labels: Tuple[Tuple[str, str], ...] = ()
    annotations: Tuple[Tuple[str, str], ...] = ()
    tolerations: Tuple[dict, ...] = ()
    node_selector: Tuple[Tuple[str, str], ...] = ()
    pool: Optional[str] = None
    env: Tuple[Tuple[str, str], ...] = ()
    retries: Optional[int] = None
    on_failure_callback: Optional[str] = None
    tags: Tuple[str, ...] = ()
    template_dir: Optional[str] = None
    lines: dict = field(default_factory=dict, compare=False, repr=False)
    """Line of each key in the file, for error messages."""

    def where(self, key: str) -> Optional[str]:
        """``file:line`` of a key, for error messages."""
        if not self.path:
            return None
        line = self.lines.get(key)
        return f"{self.path}:{line}" if line else self.path


# key → (expected kind, description) ; kinds: str, int, str_map, str_list, map_list
SCHEMA = {
    "image": ("str", "default container image of every step"),
    "namespace": ("str", "default Kubernetes namespace"),
    "service_account": ("str", "default Kubernetes service account"),
    "labels": ("str_map", "labels of every pod (a step's @kubernetes labels win)"),
    "annotations": ("str_map", "annotations of every pod (a step's own win)"),
    "tolerations": ("map_list", "default tolerations"),
    "node_selector": ("str_map", "default node selector"),
    "pool": ("str", "Airflow pool of every task (--worker-pool wins)"),
    "env": ("str_map", "extra environment of every task (@environment wins)"),
    "retries": ("int", "retries of steps without @retry"),
    "on_failure_callback": ("str", "import path of a function, e.g. my_org.alerts.notify"),
    "tags": ("str_list", "extra DAG tags"),
    "template_dir": ("str", "template folder, relative to this file"),
}


def find_config(flow_file: str, explicit: Optional[str]) -> Optional[Path]:
    """The config file to use: --config, else the nearest mfairflow.yaml from the flow's folder
    up to the repository root (a folder holding .git) or the user's home, whichever comes
    first; with neither above the flow, only the flow's own folder.

    The config and its templates are code of the deploy (a config planted in a shared folder
    such as /tmp or / must not apply to everyone's flows below it).
    """
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise CompileError(
                f"the config file {explicit!r} does not exist",
                hint="pass the path of an mfairflow.yaml file to --config",
            )
        return path
    for candidate in config_folders(Path(os.path.abspath(flow_file)).parent):
        path = candidate / CONFIG_NAME
        if path.is_file():
            return path
    return None


def config_folders(folder: Path) -> list[Path]:
    """The folders searched for mfairflow.yaml, nearest first (see find_config)."""
    home = os.path.realpath(os.path.expanduser("~"))
    searched = []
    for candidate in (folder, *folder.parents):
        searched.append(candidate)
        if (candidate / ".git").exists() or (
            home != os.sep and os.path.realpath(candidate) == home
        ):
            return searched
    return [folder]


def load_config(path: Optional[Path]) -> OrgConfig:
    """Parse and check an organization config file (None → no organization defaults)."""
    if path is None:
        return OrgConfig()
    import yaml

    text = path.read_text()
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise CompileError(
            f"the organization config is not valid YAML ({getattr(exc, 'problem', exc)})",
            hint="fix the YAML syntax",
            location=where,
        ) from None
    if data is None:
        return OrgConfig(path=str(path))
    lines = {}
    if isinstance(root, yaml.MappingNode):
        for key_node, _ in root.value:
            key = str(key_node.value)
            if key in lines:
                raise CompileError(
                    f"the key {key!r} is written twice in the organization config",
                    hint="keep one of the two",
                    location=f"{path}:{key_node.start_mark.line + 1}",
                )
            lines[key] = key_node.start_mark.line + 1
    if not isinstance(data, dict):
        raise CompileError(
            "the organization config must be a mapping of keys to values",
            hint="write `key: value` lines, e.g. `image: my-registry/python:3.11`",
            location=f"{path}:1",
        )
    values = {}
    for key, value in data.items():
        where = f"{path}:{lines.get(str(key), 1)}"
        if key not in SCHEMA:
            raise CompileError(
                f"unknown key {key!r} in the organization config",
                hint="known keys: " + ", ".join(SCHEMA),
                location=where,
            )
        values[key] = _check(key, value, where, path)
        _check_kubernetes_value(key, values[key], where)
    return OrgConfig(path=str(path), lines=lines, **values)


def _check_kubernetes_value(key: str, value, where: str) -> None:
    """Kubernetes' naming rules for the pod settings of the config (reported at the key)."""

    def invalid(what: str) -> CompileError:
        return CompileError(
            f"{what} in the organization config ({key!r}) is not valid for Kubernetes",
            hint="namespaces and service accounts: lowercase letters, digits, '-' and '.'; "
            "label values: up to 63 letters, digits, '-', '_' or '.'",
            location=where,
        )

    if key in ("namespace", "service_account") and not DNS_SUBDOMAIN.fullmatch(value):
        raise invalid(repr(value))
    if key in ("labels", "node_selector", "annotations"):
        for name, item in value:
            if not valid_key(name):
                raise invalid(f"the key {name!r}")
            if key != "annotations" and not LABEL_VALUE.fullmatch(item):
                raise invalid(f"the value {item!r}")


def _check(key: str, value, where: str, path: Path):
    kind, description = SCHEMA[key]

    def wrong(expected: str) -> CompileError:
        return CompileError(
            f"{key!r} in the organization config must be {expected}, not "
            f"{type(value).__name__}",
            hint=f"{key}: {description}",
            location=where,
        )

    if kind == "str":
        if not isinstance(value, str) or not value.strip():
            raise wrong("a non-empty string")
        if key == "on_failure_callback" and not _CALLABLE_PATH.fullmatch(value):
            raise CompileError(
                f"on_failure_callback {value!r} is not an import path",
                hint="write module.function, e.g. my_org.alerts.notify_failure",
                location=where,
            )
        if key == "template_dir":
            folder = (path.parent / value).resolve()
            if not folder.is_dir():
                raise CompileError(
                    f"template_dir {value!r} is not a folder",
                    hint="give a folder relative to the config file",
                    location=where,
                )
            return str(folder)
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise wrong("a whole number >= 0")
        return value
    if kind == "str_map":
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, (str, int, float, bool)) for k, v in value.items()
        ):
            raise wrong("a mapping of strings to strings")
        for k, v in value.items():
            if isinstance(v, bool):  # YAML reads yes/no/on/off/true/false unquoted as booleans
                raise CompileError(
                    f"{key}.{k} in the organization config is the YAML boolean {str(v).lower()}, "
                    "not a string",
                    hint=f'quote the value, e.g. {k}: "yes"',
                    location=where,
                )
        return tuple((k, str(v)) for k, v in value.items())
    if kind == "str_list":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise wrong("a list of strings")
        return tuple(value)
    if kind == "map_list":
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise wrong("a list of mappings")
        for item in value:
            problems = toleration_problems(item)
            if problems:
                raise CompileError(
                    f"a toleration in the organization config has an invalid "
                    f"{' and '.join(problems)}: {item!r}",
                    hint="keys: key, operator, value, effect, toleration_seconds; key and value "
                    "follow label syntax; operator is Equal or Exists; effect is NoSchedule, "
                    "PreferNoSchedule or NoExecute",
                    location=where,
                )
            seconds = item.get("toleration_seconds", item.get("tolerationSeconds"))
            try:
                toleration_seconds(seconds)
            except ValueError:
                raise CompileError(
                    f"toleration_seconds {seconds!r} in the organization config is not a whole "
                    "number of seconds",
                    hint="write toleration_seconds: 300, for example",
                    location=where,
                ) from None
        return tuple(value)
    raise AssertionError(kind)  # pragma: no cover
