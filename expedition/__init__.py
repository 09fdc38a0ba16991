"""expedition: a toolkit for data expeditions.

The command line is a thin layer over this Python API, so a notebook can do everything the CLI
does::

    import expedition
    project = expedition.open_project("my-expedition")
    expedition.add_dataset(project, "referrals.csv", "referrals")
    findings = expedition.run(project)
    pack = expedition.build_pack(project)

Heavy libraries (Polars, scikit-learn, matplotlib) load only when a function needs them, so
``import expedition`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_API = {
    "load_config": "expedition.config",
    "Config": "expedition.config",
    "open_project": "expedition.project",
    "find_project_root": "expedition.project",
    "Project": "expedition.project",
    "new_project": "expedition.scaffold",
    "scan_dataset": "expedition.datasets",
    "add_dataset": "expedition.datasets",
    "profile": "expedition.profile",
    "compare_profiles": "expedition.profile",
    "Finding": "expedition.finding",
    "Table": "expedition.finding",
    "Figure": "expedition.finding",
    "Step": "expedition.steps",
    "StepContext": "expedition.steps",
    "StepParams": "expedition.steps",
    "get_step": "expedition.steps",
    "available_steps": "expedition.steps",
    "run": "expedition.runner",
    "build_pack": "expedition.pack",
    "verify_pack": "expedition.pack",
    "sign_off": "expedition.review",
    "run_demo": "expedition.demo",
    "validate": "expedition.validation",
    "infer_schema": "expedition.contract",
    "load_contract": "expedition.contract",
    "draft_contract": "expedition.contract",
    "validate_datasets": "expedition.validation",
    "ensure_validated": "expedition.validation",
    "prepare_datasets": "expedition.prepare",
    "score": "expedition.scoring",
    "ExpeditionError": "expedition.errors",
}

__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'expedition' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
