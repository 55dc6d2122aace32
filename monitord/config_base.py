"""The building blocks of the config schema (monitord/config.py): the strict model base
and the constrained types shared by its sections (config_devices.py, config_station.py).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Port = Annotated[int, Field(ge=1, le=65535)]
Ident = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
SessionProtocol = Literal["esketamine", "iv-ketamine"]


class Strict(BaseModel):
    """Unknown keys are errors (design.md section 8); a loaded config never changes."""

    model_config = ConfigDict(extra="forbid", frozen=True)
