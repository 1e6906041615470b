"""The small world that hand-figure tests share: one 1 GHz device whose radio draws 0.2 W on the air and 0.05 W
stalled (no per-bit slope, no tail), and a dedicated 1 Mbit/s cell both ways with no latency and an unlimited
backhaul. Tests copy these into their scenarios and add what they need (an energy model, a workload, faults)."""

from __future__ import annotations

import copy
from typing import Any

HAND_DEVICE: dict[str, Any] = {
    "name": "dev", "profile": "phone-midrange", "cpu_hz": 1e9, "cores": 1, "radio_base_w": 0.2,
    "radio_up_w_per_bps": 0.0, "radio_down_w_per_bps": 0.0, "radio_tail_w": 0.05, "radio_tail_s": 0.0,
}  # fmt: skip

HAND_NETWORK: dict[str, Any] = {
    "cells": [{"name": "c", "model": "fixed", "rate_bps": 1e6, "shared": False, "latency_s": 0.0,
               "downlink_rate_bps": 1e6}],
    "backhaul": {"latency_s": 0.0, "rate_bps": 1e15},
}  # fmt: skip


def hand_device(**changes: Any) -> dict[str, Any]:
    """A fresh copy of the hand device with `changes`."""
    return {**copy.deepcopy(HAND_DEVICE), **changes}


def hand_network() -> dict[str, Any]:
    """A fresh copy of the hand network."""
    return copy.deepcopy(HAND_NETWORK)
