"""The `gantry build` command line for a project, from the plugin options and [tool.gantry]."""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from typing import Any, Mapping, Sequence


class GantryError(Exception):
    """gantry is missing, an option is malformed, or the build failed."""


def _strings(options: Mapping[str, Any], key: str) -> list[str]:
    value = options.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise GantryError(f"option {key!r} must be a list of non-empty strings, not {value!r}")
    return list(value)


def gantry_executable(environ: Mapping[str, str] = os.environ) -> list[str]:
    """`$GANTRY` (a path or a command line), else `gantry` on PATH."""
    given = environ.get("GANTRY", "").strip()
    if given:
        return shlex.split(given)
    found = shutil.which("gantry")
    if not found:
        raise GantryError("gantry is not on PATH: install it (npm install -g gantry) or set GANTRY to its path")
    return [found]


def gantry_command(
    root: str,
    options: Mapping[str, Any],
    project: Mapping[str, Any],
    *,
    default_outputs: Sequence[str] = (),
    environ: Mapping[str, str] = os.environ,
) -> list[str]:
    """`gantry build ROOT -t TAG... [-o OUT...] [--push] [--platform P,...] [ARGS...]`.

    Tags: the options' `tags`, else [tool.gantry] tags, else NAME:VERSION from [project].
    """
    tags = _strings(options, "tags")
    if not tags:
        gantry_table = project.get("tool", {}).get("gantry", {})
        tags = _strings(gantry_table, "tags") if isinstance(gantry_table, dict) else []
    if not tags:
        meta = project.get("project", {})
        name, version = meta.get("name"), meta.get("version")
        if name:
            tags = [f"{name}:{version}" if version else name]
    outputs = _strings(options, "outputs")
    push = options.get("push", False)
    if not isinstance(push, bool):
        raise GantryError(f"option 'push' must be true or false, not {push!r}")
    if not outputs and not push:
        outputs = list(default_outputs)
    cmd = [*gantry_executable(environ), "build", root]
    for tag in tags:
        cmd += ["-t", tag]
    for out in outputs:
        cmd += ["-o", out]
    if push:
        cmd.append("--push")
    platforms = _strings(options, "platforms")
    if platforms:
        cmd += ["--platform", ",".join(platforms)]
    cmd += _strings(options, "args")
    return cmd


def describe(cmd: Sequence[str]) -> str:
    """The command as a user would type it: `gantry build ...`, whatever $GANTRY is."""
    return shlex.join(["gantry", *cmd[list(cmd).index("build") :]])


def run_gantry(cmd: Sequence[str], cwd: str) -> None:
    """Runs gantry with its output passed through; a failure raises with its exit code."""
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        result = subprocess.run(list(cmd), cwd=cwd, check=False)
    except OSError as err:
        raise GantryError(f"cannot run {cmd[0]}: {err}") from err
    if result.returncode != 0:
        raise GantryError(f"gantry build failed (exit {result.returncode}): {describe(cmd)}")
