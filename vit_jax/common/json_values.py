"""JSON values for reports, metrics and metadata: numpy/JAX numbers and arrays, tuples and paths
turned into JSON types, and NaN or infinite floats into null, so that no file holds the bare
NaN / Infinity tokens that strict JSON readers reject."""

import json
import math
from pathlib import Path

import numpy as np


def to_json_compatible(value: object, *, where: str) -> object:
    """`value` as plain JSON types (non-finite floats become None). `where` names the value in
    error messages (e.g. "metrics['loss']")."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, dict):
        converted = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{where} has a non-string key {key!r}")
            converted[key] = to_json_compatible(item, where=f"{where}[{key!r}]")
        return converted
    if isinstance(value, list | tuple):
        return [to_json_compatible(item, where=f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.generic) or hasattr(value, "__array__"):
        return to_json_compatible(np.asarray(value).tolist(), where=where)
    raise TypeError(f"{where} has type {type(value).__name__}, which cannot be written as JSON")


def dumps(value: object, *, where: str, indent: int | None = None) -> str:
    """Strict JSON text of `value` (after to_json_compatible)."""
    return json.dumps(to_json_compatible(value, where=where), indent=indent, allow_nan=False)
