"""The base of every scenario model: frozen, and unknown keys are errors."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """Base of every scenario model: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)
