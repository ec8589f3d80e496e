"""The settings reference: every key with its description and default, read from the models."""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import BaseModel

from .models import Settings
from .report import unwrap_model


def iter_keys(model: type[BaseModel] = Settings, prefix: str = "") -> Iterator[tuple[str, str]]:
    """Every settings key as a dotted path with its description."""
    for name, field in model.model_fields.items():
        path = f"{prefix}.{name}" if prefix else name
        yield path, field.description or ""
        sub = unwrap_model(field.annotation)
        if sub is not None:
            yield from iter_keys(sub, path)
