"""Scenario files: pydantic models of the YAML, loading with `--set` overrides, and errors that name file and line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from edgesplit.errors import UserError
from edgesplit.model.profiles import BUILTIN, Profile, get_profile
from edgesplit.units import Distance, Duration, Energy, Frequency, Power, Rate, Size, Work

PolicyKind = Literal["local", "edge", "random", "greedy-latency", "greedy-energy", "weighted", "heft", "learned"]


class Strict(BaseModel):
    """Base of every scenario model: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NodeFigures(Strict):
    """A built-in profile plus any figures the scenario overrides inline."""

    profile: str
    cpu_hz: Frequency | None = Field(None, gt=0)
    cores: int | None = Field(None, gt=0)
    kappa: float | None = Field(None, ge=0)
    idle_power_w: Power | None = Field(None, ge=0)
    busy_power_w: Power | None = Field(None, ge=0)
    energy_model: Literal["kappa", "power"] | None = None
    flops_per_cycle: float | None = Field(None, gt=0)

    @field_validator("profile")
    @classmethod
    def _known_profile(cls, v: str) -> str:
        if v not in BUILTIN:
            raise ValueError(f"unknown profile {v!r}; known: {', '.join(sorted(BUILTIN))}")
        return v

    def resolve(self) -> Profile:
        """The built-in profile with this entry's inline figures applied."""
        figures = {k: v for k, v in self.model_dump().items() if k in _PROFILE_FIELDS and v is not None}
        return get_profile(self.profile).with_overrides(**figures)


_PROFILE_FIELDS = set(Profile.__dataclass_fields__) - {"name", "kind"}


class DeviceGroup(NodeFigures):
    """`count` devices of one profile, at `distance_m` from their cell's base station."""

    name: str
    profile: str = "phone-midrange"
    count: int = Field(1, gt=0)
    cell: str | None = None
    distance_m: Distance | tuple[Distance, Distance] = 100.0
    tx_power_w: Power | None = Field(None, gt=0)
    rx_power_w: Power | None = Field(None, ge=0)
    battery_j: Energy | None = Field(None, gt=0)

    @field_validator("distance_m")
    @classmethod
    def _positive_distance(cls, v: float | tuple[float, float]) -> float | tuple[float, float]:
        values = v if isinstance(v, tuple) else (v,)
        if any(x <= 0 for x in values) or (isinstance(v, tuple) and v[0] > v[1]):
            raise ValueError("distance must be > 0 (or a range [min, max] with 0 < min <= max)")
        return v


class EdgeServerGroup(NodeFigures):
    """`count` edge servers reached from every cell over the backhaul."""

    name: str
    profile: str = "edge-server"
    count: int = Field(1, gt=0)


class CloudSpec(NodeFigures):
    """An optional cloud VM behind a wide-area link."""

    profile: str = "cloud-vm"
    latency_s: Duration = Field(0.04, ge=0)
    rate_bps: Rate = Field(1e9, gt=0)


class Fleet(Strict):
    devices: list[DeviceGroup] = Field(min_length=1)
    edge_servers: list[EdgeServerGroup] = Field(default_factory=list)
    cloud: CloudSpec | None = None


class PathLoss(Strict):
    """Log-distance path loss in dB: intercept + slope * log10(distance in km) (3GPP TR 36.931 macro cell)."""

    intercept_db: float = 128.1
    slope_db: float = Field(37.6, gt=0)


class CellSpec(Strict):
    """A wireless cell: uplink by Shannon rate over shared bandwidth, or a fixed rate per device."""

    name: str
    model: Literal["shannon", "fixed"] = "shannon"
    bandwidth_hz: Frequency = Field(10e6, gt=0)
    noise_dbm_per_hz: float = -174.0
    path_loss: PathLoss = PathLoss()
    rate_bps: Rate | None = Field(None, gt=0)
    shared: bool = True
    latency_s: Duration = Field(0.005, ge=0)
    jitter_s: Duration = Field(0.0, ge=0)
    loss: float = Field(0.0, ge=0, lt=1)
    max_retries: int = Field(3, ge=0)
    downlink_rate_bps: Rate = Field(100e6, gt=0)

    @model_validator(mode="after")
    def _fixed_needs_rate(self) -> CellSpec:
        if self.model == "fixed" and self.rate_bps is None:
            raise ValueError("a cell with model: fixed needs rate_bps")
        return self


class Backhaul(Strict):
    """The wired link between every cell and every edge server."""

    latency_s: Duration = Field(0.002, ge=0)
    rate_bps: Rate = Field(10e9, gt=0)


class Network(Strict):
    cells: list[CellSpec] = Field(min_length=1)
    backhaul: Backhaul = Backhaul()


class TraceSpec(Strict):
    """Jobs from a cluster trace. With no `path`, the fetched trace is used if present, else a calibrated generator."""

    format: Literal["alibaba-v2018", "alibaba-v2017"] = "alibaba-v2018"
    path: Path | None = None
    start_s: float | None = None
    end_s: float | None = None
    max_jobs: int | None = Field(None, gt=0)
    skip_bad_lines: bool = False

    @field_validator("path")
    @classmethod
    def _exists(cls, v: Path | None) -> Path | None:
        if v is not None and not v.is_file():
            raise ValueError(f"trace file {str(v)!r} does not exist (relative paths start from the current directory)")
        return v


class SyntheticSpec(Strict):
    """Generated jobs.

    - calibrated: DAG jobs drawn from the Alibaba v2018 trace's statistics (`jobs` of them);
    - poisson: independent tasks with log-normal cycles arriving at `rate_per_s` over the fleet;
    - chain: every device runs `iterations` rounds of (local pre-processing -> offloadable task).
    """

    kind: Literal["calibrated", "poisson", "chain"] = "calibrated"
    jobs: int = Field(1000, gt=0)
    rate_per_s: float = Field(10.0, gt=0)
    mean_cycles: Work = Field(1e9, gt=0)
    iterations: int = Field(100, gt=0)
    local_cycles: Work = Field(1e7, ge=0)
    offload_cycles: Work = Field(1e8, gt=0)
    input_bytes: Size = Field(100e3, ge=0)
    output_bytes: Size = Field(100.0, ge=0)


class CascadeSpec(Strict):
    """Image-classification requests served by a trained, memoised CNN cascade (`edgesplit cascade train`).

    Requests arrive as a Poisson stream at `rate_per_s`, round-robin over the devices; each sample appears
    1 + `duplicates` times on average (repeats perturbed by `perturb`). Model A and the memo cache run on the
    device; model B runs when A is unsure, on the device (`model_b: device`) or where the policy sends it.
    """

    checkpoint: Path = Path("runs/cascade")
    requests: int = Field(1000, gt=0)
    duplicates: float = Field(0.0, ge=0)
    perturb: Literal["none", "flip", "brightness"] = "none"
    rate_per_s: float = Field(10.0, gt=0)
    model_b: Literal["device", "offload"] = "offload"
    cache_capacity: int = Field(10_000, gt=0)


class CyclesModel(Strict):
    """Trace tasks have no cycle counts: cycles = duration x plan_cpu/100 x reference_hz x scale."""

    reference_hz: Frequency = Field(2.5e9, gt=0)
    scale: float = Field(1.0, gt=0)
    min_cycles: Work = Field(1e6, ge=0)


class DataModel(Strict):
    """Trace tasks have no byte counts: input bits = cycles / cycles_per_bit; output = input x output_ratio."""

    cycles_per_bit: float = Field(1000.0, gt=0)
    output_ratio: float = Field(0.1, ge=0)
    min_bytes: Size = Field(1e3, ge=0)
    max_bytes: Size = Field(50e6, gt=0)


class DeadlineModel(Strict):
    """Job deadline = arrival + factor x the job's critical path run locally on its device."""

    factor: float | None = Field(2.0, gt=0)
    drop_expired: bool = False


class ArrivalModel(Strict):
    """When jobs arrive: the trace's own times divided by `time_scale`, or a Poisson stream."""

    kind: Literal["trace", "poisson"] = "trace"
    time_scale: float = Field(1.0, gt=0)
    rate_per_s: float = Field(1.0, gt=0)


class DnnSpec(Strict):
    """Split-DNN inference requests (`edgesplit split train` exports the model): each request shows a test image,
    runs the model's head on the device and its tail where the policy says, with the bottleneck as upload.

    Requests arrive as a Poisson stream at `rate_per_s`, round-robin over the devices. In the event engine the
    times come from the profiles (FLOPs) and the predictions from an offline pass over the same path; in the Ray
    engine's real-time mode devices run the real head and send the real tensor over gRPC to the edge servers.
    """

    models: Path = Path("runs/split/models")
    model_id: str = "mnist-bottleneck-c4"
    dataset: Literal["mnist", "digits"] = "mnist"
    requests: int = Field(500, gt=0)
    rate_per_s: float = Field(20.0, gt=0)
    codec: Literal["q8", "raw"] = "q8"


class Workload(Strict):
    source: Literal["trace", "synthetic", "cascade", "dnn"] = "trace"
    trace: TraceSpec = TraceSpec()
    synthetic: SyntheticSpec = SyntheticSpec()
    cascade: CascadeSpec = CascadeSpec()
    dnn: DnnSpec = DnnSpec()
    arrival: ArrivalModel = ArrivalModel()
    mapping: Literal["round-robin", "random", "hash"] = "round-robin"
    cycles: CyclesModel = CyclesModel()
    data: DataModel = DataModel()
    deadline: DeadlineModel = DeadlineModel()

    @model_validator(mode="after")
    def _cascade_checkpoint_exists(self) -> Workload:
        if self.source == "cascade" and not (self.cascade.checkpoint / "cascade.json").is_file():
            raise ValueError(
                f"cascade.checkpoint {str(self.cascade.checkpoint)!r} holds no trained cascade (cascade.json);"
                " make one with `edgesplit cascade train --out DIR`"
            )
        return self


class PolicySpec(Strict):
    """Where ready tasks run; `latency_weight`/`energy_weight` are used by `weighted`."""

    kind: PolicyKind = "greedy-latency"
    latency_weight: float = Field(1.0, ge=0)
    energy_weight: float = Field(1.0, ge=0)
    checkpoint: Path | None = None


class EngineSpec(Strict):
    """Which engine runs the scenario. `sim`: one process, one event heap. `ray`: devices, servers and links
    hosted in Ray actors (see docs/ray.md); the other fields apply to it."""

    kind: Literal["sim", "ray"] = "sim"
    address: str | None = None  # a Ray cluster to join ("auto", "ray://host:10001", "host:6379"); else RAY_ADDRESS
    shards: int | None = Field(None, ge=1)  # device-shard actors; default: one per CPU, at most one per device
    clock: Literal["virtual", "realtime"] = "virtual"
    time_scale: float = Field(1.0, gt=0)  # realtime: virtual seconds per wall second
    edge_resources: dict[str, float] = {}  # custom Ray resources an edge-server actor asks for, e.g. {edge: 1}
    shard_resources: dict[str, float] = {}  # the same for device-shard actors


class ServerDown(Strict):
    """An edge server (or the cloud) goes down at `at_s`; what runs or waits there is lost. Each lost task's
    device notices one return-path latency later and, with `on_loss: redispatch`, asks the policy again (at most
    `redispatch_limit` times per task), else the task fails. Tasks arriving while it is down are lost the same
    way. With `downtime_s` it comes back empty after that long; without, it stays down."""

    kind: Literal["server-down"]
    server: str  # a server name: "edge", "edge-1", "cloud"
    at_s: Duration = Field(ge=0)
    downtime_s: Duration | None = Field(None, gt=0)
    on_loss: Literal["redispatch", "fail"] = "redispatch"
    redispatch_limit: int = Field(2, ge=0)


class LinkOutage(Strict):
    """A cell carries nothing from `at_s` for `duration_s`: uplink transfers stall and resume where they stopped;
    a result that would reach a device in the cell during the outage arrives when it ends."""

    kind: Literal["link-outage"]
    cell: str
    at_s: Duration = Field(ge=0)
    duration_s: Duration = Field(gt=0)


class DeviceLeave(Strict):
    """A device leaves at `at_s`: its unfinished tasks fail (their descendants are dropped) and jobs that arrive
    while it is away are dropped. With `rejoin_s` (an absolute time) it comes back then."""

    kind: Literal["device-leave"]
    device: str  # a device name: "phone-3", or a group's name when the group has one device
    at_s: Duration = Field(ge=0)
    rejoin_s: Duration | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _rejoin_later(self) -> DeviceLeave:
        if self.rejoin_s is not None and self.rejoin_s <= self.at_s:
            raise ValueError(f"rejoin_s ({self.rejoin_s}) must be after at_s ({self.at_s})")
        return self


Fault = Annotated[ServerDown | LinkOutage | DeviceLeave, Field(discriminator="kind")]


class StopSpec(Strict):
    max_time_s: Duration | None = Field(None, gt=0)


class Outputs(Strict):
    dir: Path | None = None
    records: Literal["csv", "parquet"] = "csv"
    plots: bool = True


class Scenario(Strict):
    """One experiment: fleet, network, workload, policy, engine, stop condition, seed and outputs."""

    name: str = "scenario"
    description: str = ""
    seed: int = 0
    fleet: Fleet
    network: Network
    workload: Workload = Workload()
    policy: PolicySpec = PolicySpec()
    engine: EngineSpec = EngineSpec()
    stop: StopSpec = StopSpec()
    faults: list[Fault] = []
    outputs: Outputs = Outputs()

    @model_validator(mode="after")
    def _names_resolve(self) -> Scenario:
        cells = {c.name for c in self.network.cells}
        for i, g in enumerate(self.fleet.devices):
            if g.cell is not None and g.cell not in cells:
                raise ValueError(f"fleet.devices[{i}].cell {g.cell!r} is not a cell in network.cells ({sorted(cells)})")
        names = [g.name for g in self.fleet.devices] + [e.name for e in self.fleet.edge_servers]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"device group and edge server names must be unique; repeated: {dupes}")
        needs_remote = self.policy.kind not in ("local",)
        if needs_remote and not self.fleet.edge_servers and self.fleet.cloud is None:
            raise ValueError(f"policy {self.policy.kind!r} offloads, but the fleet has no edge server and no cloud")
        if self.policy.kind == "learned" and self.policy.checkpoint is None:
            raise ValueError("policy kind 'learned' needs policy.checkpoint")
        self._faults_resolve(cells)
        return self

    def _faults_resolve(self, cells: set[str]) -> None:
        devices = {g.name if g.count == 1 else f"{g.name}-{k}" for g in self.fleet.devices for k in range(g.count)}
        servers = {e.name if e.count == 1 else f"{e.name}-{k}" for e in self.fleet.edge_servers for k in range(e.count)}
        if self.fleet.cloud is not None:
            servers.add("cloud")
        for i, f in enumerate(self.faults):
            name, known, what = (
                (f.server, servers, "server")
                if isinstance(f, ServerDown)
                else (f.cell, cells, "cell")
                if isinstance(f, LinkOutage)
                else (f.device, devices, "device")
            )
            if name not in known:
                shown = sorted(known)[:8]
                raise ValueError(f"faults[{i}]: no {what} named {name!r} (some known: {shown})")


# ----------------------------------------------------------------------------------------------------------
# Loading with line numbers


def _parse_value(text: str) -> Any:
    """A `--set` value is read as YAML, so `3`, `true`, `[1, 2]` and `10 MHz` all mean what they look like."""
    try:
        return yaml.safe_load(text) if text != "" else ""
    except yaml.YAMLError:
        return text


def apply_override(data: dict[str, Any], assignment: str) -> str:
    """Apply `a.b.c=value` to nested dicts/lists in place; returns the dotted path it set."""
    if "=" not in assignment:
        raise UserError(f"--set expects key.path=value, got {assignment!r}")
    path, _, raw = assignment.partition("=")
    keys = [k for k in path.strip().split(".") if k]
    if not keys:
        raise UserError(f"--set expects key.path=value, got {assignment!r}")
    node: Any = data
    for i, key in enumerate(keys):
        last = i == len(keys) - 1
        if isinstance(node, list):
            if not key.isdigit() or int(key) >= len(node):
                raise UserError(f"--set {path}: {'.'.join(keys[:i]) or 'top'} is a list; {key!r} is not an index in it")
            key_or_index: Any = int(key)
        elif isinstance(node, dict):
            key_or_index = key
        else:
            raise UserError(f"--set {path}: {'.'.join(keys[:i])} is not a mapping")
        if last:
            node[key_or_index] = _parse_value(raw)
        else:
            if isinstance(node, dict) and (key not in node or node[key] is None):
                node[key] = {}
            node = node[key_or_index]
    return ".".join(keys)


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> tuple[int | None, bool]:
    """1-based line of the deepest YAML node along `loc`; the flag says whether the whole path was found."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == str(part):
                    child = v
                    line = k.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
            line = child.start_mark.line + 1
        if child is None:
            return line, False
        node = child
    return line, True


def _format_errors(err: ValidationError, source: str, root: yaml.Node | None, overridden: set[str]) -> str:
    lines = []
    for e in err.errors():
        loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-after")))
        dotted = ".".join(str(p) for p in loc) or "(top level)"
        line, _found = _line_of(root, loc)
        override = next((o for o in overridden if dotted == o or dotted.startswith(o + ".")), None)
        where = f"--set {override}" if override else (f"{source}:{line}" if line else source)
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key (check its spelling and level)"
        elif e["type"] == "missing":
            msg = "required field is missing"
        got = e.get("input")
        shown = "" if e["type"] in ("missing", "extra_forbidden") or isinstance(got, dict | list) else f" (got {got!r})"
        lines.append(f"{where}: {dotted}: {msg}{shown}")
    return "\n".join(lines)


def load_scenario(path: str | Path, overrides: list[str] | None = None) -> Scenario:
    """Read, override and validate a scenario file; every user mistake becomes a UserError naming file and line."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"scenario file {str(path)!r} does not exist")
    text = path.read_text()
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise UserError(f"not valid YAML: {getattr(exc, 'problem', exc)}", where) from None
    if not isinstance(data, dict):
        raise UserError("a scenario must be a YAML mapping (fleet:, network:, workload:, ...)", str(path))
    overridden = {apply_override(data, o) for o in overrides or []}
    try:
        return Scenario.model_validate(data)
    except ValidationError as err:
        raise UserError(_format_errors(err, str(path), root, overridden)) from None
