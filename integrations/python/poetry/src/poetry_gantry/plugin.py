"""`poetry build-image`: calls `gantry build` on the project with its [tool.gantry] settings."""
from __future__ import annotations

import os

from cleo.helpers import option
from poetry.console.commands.command import Command
from poetry.plugins.application_plugin import ApplicationPlugin

from .command import GantryError, describe, gantry_command, run_gantry


class BuildImageCommand(Command):
    name = "build-image"
    description = "Builds a container image of the project with gantry (no Dockerfile, no daemon)."

    options = [
        option("tag", "t", "Image name (repeatable); default [tool.gantry] tags, else NAME:VERSION.", flag=False, multiple=True),
        option("output", "o", "gantry output, e.g. type=oci,dest=dist/app (repeatable).", flag=False, multiple=True),
        option("push", None, "Push the image to the registry of each tag."),
        option("platform", None, "Platforms, e.g. linux/amd64,linux/arm64.", flag=False),
        option("gantry-arg", None, "Any other gantry build flag (repeatable).", flag=False, multiple=True),
    ]

    def handle(self) -> int:
        poetry = self.poetry
        root = str(poetry.file.parent)
        data = poetry.pyproject.data
        package = poetry.package
        project = {
            "tool": {"gantry": data.get("tool", {}).get("gantry", {})},
            "project": {"name": package.name, "version": package.version.text},
        }
        platform = self.option("platform")
        options = {
            "tags": list(self.option("tag") or []),
            "outputs": list(self.option("output") or []),
            "push": bool(self.option("push")),
            "platforms": [p for p in (platform or "").split(",") if p],
            "args": list(self.option("gantry-arg") or []),
        }
        artifact = os.path.join(root, "dist", f"{package.name}-{package.version.text}-image.tar")
        try:
            cmd = gantry_command(root, options, project, default_outputs=[f"type=oci,dest={artifact}"])
            if not options["outputs"] and not options["push"]:
                os.makedirs(os.path.dirname(artifact), exist_ok=True)
            self.line(f"<c1>{describe(cmd)}</c1>")
            run_gantry(cmd, root)
        except GantryError as err:
            self.line_error(f"<error>{err}</error>")
            return 1
        return 0


class GantryPlugin(ApplicationPlugin):
    @property
    def commands(self) -> list[type[Command]]:
        return [BuildImageCommand]
