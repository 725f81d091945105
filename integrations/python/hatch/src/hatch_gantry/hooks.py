"""Registers the `image` build target and the `gantry` build hook with Hatch."""
from __future__ import annotations

import os
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface
from hatchling.builders.plugin.interface import BuilderInterface
from hatchling.plugin import hookimpl

from .command import GantryError, describe, gantry_command, run_gantry


def _pyproject(root: str) -> dict[str, Any]:
    try:
        import tomllib  # Python 3.11+
    except ModuleNotFoundError:  # pragma: no cover
        import tomli as tomllib  # type: ignore[no-redef]
    path = os.path.join(root, "pyproject.toml")
    if not os.path.exists(path):
        return {}
    with open(path, "rb") as f:
        return tomllib.load(f)


class GantryImageBuilder(BuilderInterface):
    """`hatch build -t image`: the project as a container image (default: an OCI archive in dist/)."""

    PLUGIN_NAME = "image"

    def get_version_api(self) -> dict:
        return {"standard": self.build_standard}

    def get_default_versions(self) -> list[str]:
        return ["standard"]

    def clean(self, directory: str, versions: list[str]) -> None:
        for name in os.listdir(directory) if os.path.isdir(directory) else []:
            if name.endswith("-image.tar"):
                os.remove(os.path.join(directory, name))

    def build_standard(self, directory: str, **build_data: Any) -> str:
        os.makedirs(directory, exist_ok=True)
        name = self.normalize_file_name_component(self.metadata.core.raw_name)
        artifact = os.path.join(directory, f"{name}-{self.metadata.version}-image.tar")
        options = dict(self.target_config)
        cmd = gantry_command(
            self.root,
            options,
            _pyproject(self.root),
            default_outputs=[f"type=oci,dest={artifact}"],
        )
        self.app.display_info(describe(cmd))
        try:
            run_gantry(cmd, self.root)
        except GantryError as err:
            self.app.abort(str(err))
        return artifact if os.path.exists(artifact) else directory


class GantryBuildHook(BuildHookInterface):
    """`[tool.hatch.build.targets.wheel.hooks.gantry]`: an image after the target's artifact."""

    PLUGIN_NAME = "gantry"

    def finalize(self, version: str, build_data: dict, artifact_path: str) -> None:
        cmd = gantry_command(self.root, self.config, _pyproject(self.root))
        self.app.display_info(describe(cmd))
        try:
            run_gantry(cmd, self.root)
        except GantryError as err:
            self.app.abort(str(err))


@hookimpl
def hatch_register_builder():
    return GantryImageBuilder


@hookimpl
def hatch_register_build_hook():
    return GantryBuildHook
