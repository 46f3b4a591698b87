"""Hatch build hook: put only what a device needs from ``models/`` into the wheel.

A static ``force-include`` of ``models/`` would also ship the Keras ``.h5`` files (training
artifacts a Raspberry Pi never opens). This hook adds each ``models/*.tflite`` and its metadata
JSON sidecar (same stem) as ``mnist_edge/_models/<name>``, and nothing else from that folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


def device_model_files(models: Path) -> list[Path]:
    """The ``.tflite`` models in ``models`` and the JSON sidecar of each, sorted."""
    files: list[Path] = []
    for model in sorted(models.glob("*.tflite")):
        files.append(model)
        sidecar = model.with_suffix(".json")
        if sidecar.is_file():
            files.append(sidecar)
    return files


class DeviceModelsHook(BuildHookInterface):
    """Force-include the converted models (and only those) into the wheel."""

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or version == "editable":
            return  # an editable install reads models/ from the checkout itself
        for path in device_model_files(Path(self.root) / "models"):
            build_data["force_include"][str(path)] = f"mnist_edge/_models/{path.name}"
