"""Shared base for every config section: unknown keys are errors, values are frozen."""

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A config section. ``extra="forbid"`` turns a typo into a start-up error naming the key."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)
