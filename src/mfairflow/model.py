"""The typed, frozen model between the analyzer and the templates.

Plain data only (str, int, float, bool, None, tuples and other model objects), so that a
template can only lay out what the analyzer decided. Mappings are tuples of (key, value) pairs in
a fixed order, so that no iteration order can leak into the generated file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Tuple, Union

Scalar = Union[str, int, float, bool, None]
Pairs = Tuple[Tuple[str, str], ...]
"""A string-to-string mapping as ordered (key, value) pairs."""


class JsonObject(tuple):
    """A JSON object kept as ordered (key, value) pairs; templates render it as a dict."""

    __slots__ = ()


@dataclass(frozen=True)
class Toleration:
    """One Kubernetes toleration of a step's pod."""

    key: Optional[str] = None
    operator: Optional[str] = None
    value: Optional[str] = None
    effect: Optional[str] = None
    toleration_seconds: Optional[int] = None


@dataclass(frozen=True)
class KubeConnection:
    """How the KubernetesPodOperator reaches the cluster (METAFLOW_AIRFLOW_KUBERNETES_*)."""

    in_cluster: bool
    conn_id: Optional[str]
    cluster_context: Optional[str]
    config_file: Optional[str]
    startup_timeout_seconds: int


@dataclass(frozen=True)
class PodSpec:
    """The pod a step runs in: image, placement, identity and resources."""

    image: str
    namespace: str
    service_account: Optional[str]
    cpu: str
    memory: str
    disk: str
    gpu: Optional[int]
    gpu_vendor: str
    requests: Pairs
    """Kubernetes resource requests, e.g. (("cpu", "1"), ("memory", "4096M"))."""
    limits: Pairs
    secrets: Tuple[str, ...]
    """Names of Kubernetes secrets whose keys become environment variables."""
    node_selector: Pairs
    tolerations: Tuple[Toleration, ...]
    labels: Pairs
    """The step's own labels (every pod also carries RuntimeSpec.pod_labels)."""
    annotations: Pairs
    """The step's own annotations (every pod also carries RuntimeSpec.pod_annotations)."""
    shared_memory_mb: Optional[int] = None
    """Size of the in-memory /dev/shm volume (@kubernetes(shared_memory=...)), or None."""
    port: Optional[int] = None
    """Container port the step's process listens on (@kubernetes(port=...)), or None."""
    image_pull_secrets: Tuple[str, ...] = ()
    """Secrets the kubelet pulls the image with (@kubernetes(image_pull_secrets=...))."""
    security_context: Optional[JsonObject] = None
    """The container's security context (V1SecurityContext fields, snake_case), or None."""


@dataclass(frozen=True)
class PodDefaults:
    """The pod settings most steps share: the DAG file states them once, and a step's call
    names only the settings in which its pod differs."""

    image: str
    namespace: str
    service_account: Optional[str]
    requests: Pairs
    limits: Pairs
    secrets: Tuple[str, ...]


@dataclass(frozen=True)
class ParamSpec:
    """A Metaflow Parameter as an Airflow DAG param."""

    name: str
    default: object
    """A JSON-compatible value (str, int, float, bool, None, lists and dicts as tuples/pairs)."""
    type: str
    """JSON-schema type of the Airflow Param: string, integer, number, boolean, object, array."""
    description: Optional[str]
    env_var: str
    """Environment variable through which Metaflow's `init` command reads the value."""
    kind: str = "str"
    """The Metaflow type `init` reads the value as: int, float, bool, str or json."""


@dataclass(frozen=True)
class SensorSpec:
    """An Airflow sensor that must succeed before the start step runs."""

    kind: str
    """``s3_key`` or ``external_task``."""
    task_id: str
    var: str
    """Python variable name of the sensor in the DAG file."""
    args: Tuple[Tuple[str, object], ...]
    """Operator keyword arguments in a fixed order (values are plain data)."""
    execution_delta_s: Optional[float] = None


@dataclass(frozen=True)
class BranchSpec:
    """An Airflow branch task that follows the case a switch step chose (others are skipped)."""

    task_id: str
    var: str
    switch_task_id: str
    """Task id of the switch step whose XCom names the chosen case."""


@dataclass(frozen=True)
class SplitsSpec:
    """An Airflow task that flattens a nested foreach's splits into one list to map over."""

    task_id: str
    var: str
    foreach_task_id: str
    """Task id of the (mapped) foreach step whose instances' split lists are flattened."""


@dataclass(frozen=True)
class HookSpec:
    """An @exit_hook function as an Airflow task after the end step."""

    task_id: str
    var: str
    function: str
    """The hook as Metaflow's exit-hook script finds it: a name in the flow file, or
    ``module.function``."""
    on: str
    """``success`` or ``error``."""
    trigger_rule: str
    """``all_success`` (the end step succeeded) or ``one_failed`` (a step failed)."""
    script_args: str
    """Shell words for the script: the flow file and the function (escaped for Jinja)."""
    image: Optional[str] = None
    """The pod's image when @exit_hook(options={"image": ...}) sets one (kubernetes target)."""
    retries: int = 0
    """Airflow retries of the hook task (none: a hook is not part of the run)."""
    node_selector: Pairs = ()
    """The organization's node selector (kubernetes target; a hook runs no step's pod)."""
    tolerations: Tuple[Toleration, ...] = ()
    """The organization's tolerations (kubernetes target)."""


@dataclass(frozen=True)
class AssetTrigger:
    """An Airflow Asset (Dataset on Airflow 2) whose events start the DAG."""

    name: str
    """The Asset's name: Metaflow's event name (``metaflow.<flow>.end`` for a flow's finish)."""
    kind: str
    """``run`` (an upstream flow's finish, @trigger_on_finish) or ``event`` (@trigger)."""


@dataclass(frozen=True)
class EventParameter:
    """A run parameter that a triggering event's extra (payload) sets."""

    param: str
    event: str
    """The Asset (event name) whose extra carries the value."""
    field: str
    """The key of the extra."""
    kind: str = "str"
    """The parameter's Metaflow type (ParamSpec.kind): the value is checked and converted by it."""


@dataclass(frozen=True)
class StepRun:
    """The parts of a task's ``python FLOW_FILE step ...`` command that differ between tasks.

    The DAG's ``step_commands`` helper joins them with the run's constants (run id, retry count,
    tags, namespace) into Metaflow's command line. Every string is shell text, safe for
    Airflow's Jinja.
    """

    inputs: Tuple[str, ...]
    """Input paths relative to the run, e.g. ``("start/t-0",)``; ``()`` when they arrive with
    the split arguments (the first step of a nested foreach's body)."""
    user_code_retries: int
    mapped: bool
    """True for a foreach body: the task id is ``t-<map index>``."""
    split_args: bool
    """True for the first step of a foreach body: the foreach's split arguments follow."""
    decorators: Tuple[str, ...] = ()
    """``--with=...`` words: decorators added at deploy time, and the XCom decorator."""
    init_params: bool = False
    """True for the start step: create the run's parameters task first."""


@dataclass(frozen=True)
class TaskSpec:
    """One Metaflow step as one Airflow task."""

    task_id: str
    var: str
    """Python variable name of the task in the DAG file."""
    step: str
    kind: str
    """Metaflow node type: start, linear, split, join, foreach, end."""
    doc: Optional[str]
    upstream: Tuple[str, ...]
    """Task ids of the steps this step follows."""
    mapped_over: Optional[str]
    """Variable of the foreach task whose output this task is mapped over, or None."""
    pushes_xcom: bool
    """True for a foreach step: its output lists one argument list per split."""
    run: StepRun
    """What the task's Metaflow command says (see ``StepRun``)."""
    env: Pairs
    """Step-specific environment variables (on top of the DAG's common environment)."""
    retries: int
    retry_delay_s: Optional[int]
    execution_timeout_s: Optional[int]
    pod: Optional[PodSpec]
    """The pod for the kubernetes target; None for the local target."""
    trigger_rule: Optional[str] = None
    """Airflow trigger rule when not the default (the step where a switch's cases meet, and
    the case steps of a switch inside a foreach, whose upstream instances may be skipped)."""
    run_if: Optional[Tuple[str, str]] = None
    """(switch task id, case) for a case step of a switch inside a foreach body: the instance
    of split i runs only if instance i of the switch chose this case, else it skips itself."""
    announces: bool = False
    """True for the end step: its success is an event of the DAG's finish Asset."""


@dataclass(frozen=True)
class RuntimeSpec:
    """How every task starts Metaflow: the command prefix, shared environment and bootstrap."""

    metaflow: str
    """Shell words that run the flow file with its top-level options."""
    step_options: Tuple[str, ...]
    """Shell words every ``step`` command ends with (``--tag``, ``--namespace``)."""
    run_id: str
    """Airflow template of the Metaflow run id (the same for every task of a DAG run)."""
    retry_count: str
    """Airflow template of the attempt number Metaflow is given (0 for the first try)."""
    first_task_prefix: str
    """The prefix of the task ids in the steps' input paths: those of a first run (``t-``)."""
    task_prefix: str
    """Airflow template of the prefix of this run's task ids (a resumed run has its own)."""
    task_id: str
    """Airflow template of the Metaflow task id of an unmapped step's task."""
    mapped_task_id: str
    """Airflow template of the Metaflow task id of a mapped (foreach body) task."""
    init_params: str
    """The start step's first command: create the run's parameters task unless it exists."""
    resume_key: str
    """The conf key that makes a DAG run a resume of another run (``airflow resume``)."""
    resume_options: str
    """Airflow template of the options a task's ``step`` command ends with: copy the origin's
    task (``--clone-only``) or run it as part of the resume (``--clone-run-id``); empty in a
    run that is not a resume."""
    flow_word: str
    """The flow name as one shell word, escaped for Airflow's Jinja (the pods' MF_PATHSPEC)."""
    common_env: Pairs
    """Environment of every task whose values Airflow's Jinja leaves unchanged (so the DAG
    can build them once and share them between tasks)."""
    templated_env: Pairs
    """Environment of every task that Airflow renders per task (the DAG run id, escaped
    values)."""
    bootstrap: Tuple[str, ...]
    """Shell commands every task runs first: fetch and unpack the code package (kubernetes
    target)."""
    flow_dir: Optional[str]
    """Directory the local target runs the flow in; None for the kubernetes target."""
    code_package_url: Optional[str]
    code_package_sha: Optional[str]
    production_token: str
    datastore: str
    datastore_root: str
    metadata: str
    kube: Optional[KubeConnection]
    log_capture: Tuple[str, ...]
    """(before, after, finally) shell text around a pod's commands for Metaflow's log capture,
    or () for the local target (its output goes to the Airflow task log)."""
    pod_labels: Pairs
    """Labels of every pod (Metaflow's system labels)."""
    pod_annotations: Pairs
    """Annotations of every pod (production token, owner, flow, project)."""
    pod_defaults: Optional[PodDefaults] = None
    """The pod settings most steps share (kubernetes target); None for the local target."""
    pod_fields: Pairs = ()
    """Environment variables every pod takes from its own Pod object through Kubernetes'
    downward API (name → field path), as Metaflow's pods do; () for the local target."""
    flow_configs: Optional[str] = None
    """The flow's resolved Configs (JSON) that each task of the local target writes to its
    ``--local-config-file``; None without Configs and on the kubernetes target (the code
    package carries them)."""


@dataclass(frozen=True)
class DagSpec:
    """The whole DAG file: DAG arguments, sensors, tasks and their dependencies."""

    dag_id: str
    flow_name: str
    flow_file: str
    target: str
    """``kubernetes`` (KubernetesPodOperator) or ``local`` (steps run as local processes)."""
    description: Optional[str]
    doc_md: Optional[str]
    owner: str
    schedule: Optional[str]
    timezone: Optional[str]
    """IANA zone the schedule is read in (the start date's zone; DST-aware), None for UTC."""
    dagrun_timeout_s: Optional[int]
    max_active_tasks: int
    pool: Optional[str]
    tags: Tuple[str, ...]
    is_paused_upon_creation: bool
    params: Tuple[ParamSpec, ...]
    sensors: Tuple[SensorSpec, ...]
    tasks: Tuple[TaskSpec, ...]
    branches: Tuple[BranchSpec, ...]
    splits: Tuple[SplitsSpec, ...]
    edges: Tuple[Tuple[str, str], ...]
    """(upstream variable, downstream variable) pairs, sensors first, in graph order."""
    runtime: RuntimeSpec
    exit_hooks: Tuple[HookSpec, ...] = ()
    """Hook tasks after the end step, success hooks first."""
    hook_env: Pairs = ()
    """Environment a hook process adds to the common one (local target: the datastore)."""
    hook_script: str = "python -m metaflow.plugins.exit_hook.exit_hook_script"
    """Shell words that run Metaflow's exit-hook script (its arguments follow)."""
    finish_asset: str = ""
    """The Asset the end step announces when the run succeeds (``metaflow.<flow>.end``)."""
    finish_extra: Pairs = ()
    """The fixed part of that event's extra (flow, project, branch); the run is added."""
    triggers: Tuple[AssetTrigger, ...] = ()
    """Assets that start the DAG (all of them), instead of or beside its schedule."""
    event_parameters: Tuple[EventParameter, ...] = ()
    """Parameters set from the triggering event's extra."""
    end_step: str = "end"
    """The flow's end step (its task announces the finish)."""
    on_failure_callback: Optional[Tuple[str, str]] = None
    """(module, function) of the organization's failure callback, or None."""
    generator: str = field(default="mfairflow")
    """Name and version of the generator, written in the file's header."""

    @property
    def uses_python_operator(self) -> bool:
        """True when the file needs PythonOperator (local steps, or nested-foreach splits)."""
        return self.target == "local" or bool(self.splits)

    @property
    def has_case_skips(self) -> bool:
        """True when some mapped task skips itself unless its split chose its case."""
        return any(task.run_if for task in self.tasks)

    @property
    def has_foreach(self) -> bool:
        """True when some task is mapped over a foreach output."""
        return any(task.mapped_over for task in self.tasks)
