"""Lazy registries: a name maps to "module:attribute", imported on first use."""
from __future__ import annotations

import importlib
from typing import Any, Mapping

from .errors import ConfigError, check_name


def resolve(kind: str, name: str, entries: Mapping[str, str]) -> Any:
    """Import ``entries[name]``; unknown names and missing modules of this package are ConfigErrors."""
    check_name(name, kind, sorted(entries))
    module, attr = entries[name].split(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ModuleNotFoundError, AttributeError) as err:
        if isinstance(err, ModuleNotFoundError) and not (err.name or "").startswith("fairdistill"):
            raise
        raise ConfigError(f"{kind} {name!r} is not available in this build ({err})") from None
