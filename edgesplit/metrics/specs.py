"""The fleet metrics' specifications: names, types, help texts, labels, merge rules and latency buckets."""

from __future__ import annotations

from dataclasses import dataclass

from edgesplit.results import COMPLETED, DROPPED, FAILED

DEFAULT_TOP_DEVICES = 20
COMPONENTS = ("compute", "radio", "idle")
SERVER_COMPONENTS = ("compute", "idle")
# Parts of the energy that completed tasks' records carry (the summary's per-task columns): device compute +
# radio, the device idle power charged while the task was in flight, and the server's compute.
TASK_ENERGY_PARTS = ("device_active", "device_idle", "server")
# Parts of the mean energy per completed task (= summary.json's energy_j.per_task, without the _mean_j suffix).
PER_TASK_PARTS = ("device_active", "device_total", "server")
TASK_ENERGY_METRIC = "edgesplit_completed_task_energy_joules_total"
PER_TASK_METRIC = "edgesplit_energy_per_completed_task_joules"
OUTCOMES = (COMPLETED, FAILED, DROPPED)
# Task latency buckets in seconds: from a millisecond (a local task on a fast board) to 20 min (a trace job).
LATENCY_BUCKETS_S = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    25.0,
    50.0,
    100.0,
    250.0,
    500.0,
    1000.0,
)
RPC_LATENCY_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class FleetMetric:
    """One fleet metric: its exposed name, type, help text, label names and how shards combine."""

    name: str
    kind: str  # "counter" | "gauge"
    help: str
    labels: tuple[str, ...]
    # "sum" | "max" | "min": how merge_snapshots combines the shards' values; "derived": computed again from the
    # merged values of other metrics (a mean is not the sum, max or min of the shards' means)
    merge: str = "sum"
    per_device: bool = False  # capped to the top-k devices


FLEET_METRICS: tuple[FleetMetric, ...] = (
    FleetMetric(
        "edgesplit_device_energy_joules_total",
        "counter",
        "Energy a device has used, by component (compute, radio = tx + rx, idle); top-k devices by energy.",
        ("device", "device_class", "component"),
        per_device=True,
    ),
    FleetMetric(
        "edgesplit_device_battery_joules",
        "gauge",
        "Battery energy a device has left (devices with a battery); top-k devices by energy only.",
        ("device", "device_class"),
        per_device=True,
    ),
    FleetMetric(
        "edgesplit_device_queue_length",
        "gauge",
        "Tasks queued on a device that have not started; top-k devices by energy only.",
        ("device", "device_class"),
        per_device=True,
    ),
    FleetMetric(
        "edgesplit_device_class_energy_joules_total",
        "counter",
        "Energy all devices of a class have used, by component (compute, radio, idle).",
        ("device_class", "component"),
    ),
    FleetMetric(
        "edgesplit_device_class_active_energy_joules_total",
        "counter",
        "Active energy (compute + radio; idle left out) all devices of a class have used.",
        ("device_class",),
    ),
    FleetMetric(
        "edgesplit_device_class_battery_joules",
        "gauge",
        "Battery energy left, summed over the devices of a class that have a battery.",
        ("device_class",),
    ),
    FleetMetric(
        "edgesplit_device_class_battery_min_ratio",
        "gauge",
        "Lowest battery left / capacity among the devices of a class that have a battery (0..1).",
        ("device_class",),
        merge="min",
    ),
    FleetMetric(
        "edgesplit_device_class_queue_length",
        "gauge",
        "Tasks queued and not started, summed over the devices of a class.",
        ("device_class",),
    ),
    FleetMetric("edgesplit_device_class_devices", "gauge", "Devices in a class.", ("device_class",)),
    FleetMetric(
        "edgesplit_server_energy_joules_total",
        "counter",
        "Energy an edge server or cloud VM has used, by component (compute, idle).",
        ("server", "kind", "component"),
    ),
    FleetMetric(
        "edgesplit_server_queue_length",
        "gauge",
        "Tasks queued on a server that have not started.",
        ("server", "kind"),
    ),
    FleetMetric(
        "edgesplit_server_utilisation_ratio",
        "gauge",
        "Busy cores / cores of a server at the current simulated time (0..1).",
        ("server", "kind"),
        merge="max",
    ),
    FleetMetric(
        "edgesplit_server_up",
        "gauge",
        "1 while a server is alive, 0 when it is down.",
        ("server", "kind"),
        "min",
    ),
    FleetMetric(
        "edgesplit_link_bytes_total",
        "counter",
        "Bytes put on a cell's radio link: uplink counts every attempt when queued, downlink each result.",
        ("cell", "direction"),
    ),
    FleetMetric(
        "edgesplit_link_rate_bytes_per_second",
        "gauge",
        "Current rate of a cell's uplink or downlink: the sum of the rates of the transfers on the air.",
        ("cell", "direction"),
    ),
    FleetMetric(
        "edgesplit_link_active_transfers",
        "gauge",
        "Transfers on the air in a cell's uplink or downlink.",
        ("cell", "direction"),
    ),
    FleetMetric(
        "edgesplit_base_station_energy_joules_total",
        "counter",
        "Energy a cell's base station has used (EARTH model), by state: transmit (downlink on the air), receive"
        " (only the uplink), sleep.",
        ("cell", "state"),
    ),
    FleetMetric(
        "edgesplit_tasks_total",
        "counter",
        "Tasks that have ended, by outcome (completed, failed, dropped).",
        ("policy", "device_class", "outcome"),
    ),
    FleetMetric(
        "edgesplit_task_deadline_misses_total",
        "counter",
        "Completed tasks that finished after their job's deadline.",
        ("policy", "device_class"),
    ),
    FleetMetric(
        TASK_ENERGY_METRIC,
        "counter",
        "Energy charged to completed tasks (their records), by part: device_active (compute + radio), "
        "device_idle (device idle power while the task was in flight), server.",
        ("policy", "device_class", "part"),
    ),
    FleetMetric(
        PER_TASK_METRIC,
        "gauge",
        "Mean energy per completed task, by part: device_active (compute + radio), device_total (+ idle while "
        "in flight), server; = summary.json energy_j.per_task at the end of the run.",
        ("policy", "part"),
        merge="derived",
    ),
    FleetMetric(
        "edgesplit_offload_decisions_total",
        "counter",
        "Placement decisions of the policy, by target (local or a server name) and its kind.",
        ("policy", "target", "kind"),
    ),
    FleetMetric("edgesplit_sim_time_seconds", "gauge", "Simulated (virtual) time of the run.", (), "max"),
    FleetMetric("edgesplit_sim_events_total", "counter", "Events the engine has processed.", ()),
    FleetMetric("edgesplit_sim_pace_ratio", "gauge", "Virtual seconds per wall second (0: unpaced).", (), "max"),
    FleetMetric("edgesplit_run_finished", "gauge", "1 once the run has ended and its summary is final.", (), "min"),
)
LATENCY_METRIC = "edgesplit_task_latency_seconds"
LATENCY_LABELS = ("policy", "placement", "device_class")

# A series' label values, in the order of its metric's label names.
Labels = tuple[str, ...]
