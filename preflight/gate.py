"""The offline gate: run the program as the engine would, run the policy pack as the CLI would.

The pack is started before the program runs, so its start-up overlaps the program's imports.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from preflight.analyzer import STACK_ENV, PolicyPackProcess
from preflight.engine import Emulation, StackOutputs
from preflight.graph import Graph, RecordedResource
from preflight.relays import unrelay_verdict
from preflight.report import StackResult
from preflight.stackfile import load_stack_config, program_main, project_name, stack_file


class UsageError(ValueError):
    """Bad command-line input: exit status 2."""


def load_policy_config(path: Path) -> dict[str, Any]:
    """A `--policy-pack-config` file in the CLI's format (JSON); as the CLI, an empty file is no
    config. Its content is checked against the pack's policies when the pack is configured
    (`preflight.analyzer.resolve_policy_config`)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise UsageError(f"--policy-pack-config: no file {path}") from None
    except OSError as exc:
        raise UsageError(f"--policy-pack-config: cannot read {path} ({exc.strerror})") from None
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"--policy-pack-config {path}: not valid JSON ({exc.msg} at line {exc.lineno})"
        ) from None
    if not isinstance(data, dict):
        raise UsageError(f"--policy-pack-config {path}: must be a JSON object")
    return data


STACK_REFERENCE_FLAG = "--stack-reference"


def load_stack_references(values: list[str]) -> dict[str, dict[str, Any]]:
    """`--stack-reference NAME=FILE`, repeatable: the outputs of each stack the program reads
    through a `pulumi.StackReference`, FILE being what `pulumi stack output --json
    --show-secrets --stack NAME` prints (a JSON object of output name -> value), each kept with
    its FILE (`StackOutputs`) for the error naming an output the program needs and FILE lacks."""
    out: dict[str, dict[str, Any]] = {}
    for value in values:
        name, sep, file = value.partition("=")
        name, file = name.strip(), file.strip()
        if not sep or not name or not file:
            raise UsageError(
                f"{STACK_REFERENCE_FLAG} {value!r}: expected NAME=FILE (the referenced stack's "
                "name, then a file of `pulumi stack output --json --show-secrets --stack NAME`)"
            )
        if name in out:
            raise UsageError(f"{STACK_REFERENCE_FLAG}: stack {name!r} given twice")
        where = f"{STACK_REFERENCE_FLAG} {name}={file}"
        try:
            text = Path(file).read_text()
        except FileNotFoundError:
            raise UsageError(f"{where}: no file {file}") from None
        except OSError as exc:
            raise UsageError(f"{where}: cannot read {file} ({exc.strerror})") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(
                f"{where}: not valid JSON ({exc.msg} at line {exc.lineno}); expected the output "
                f"of `pulumi stack output --json --show-secrets --stack {name}`"
            ) from None
        if not isinstance(data, dict):
            raise UsageError(
                f"{where}: must be a JSON object of output name -> value (what `pulumi stack "
                f"output --json --show-secrets --stack {name}` prints), not {type(data).__name__}"
            )
        out[name] = StackOutputs(data, file)
    return out


def pack_version(pack_dir: Path) -> str:
    """The version the CLI reports: PulumiPolicy.yaml's, not the SDK's placeholder."""
    data = yaml.safe_load((pack_dir / "PulumiPolicy.yaml").read_text()) or {}
    return str(data.get("version", "0.0.0"))


def run_program(
    project_dir: Path,
    stack: str,
    preview: bool,
    config: dict[str, str] | None,
    stack_references: Mapping[str, dict[str, Any]] | None = None,
    on_register: Callable[[RecordedResource], None] | None = None,
) -> Graph:
    """The program's run; an import it cannot satisfy is a usage error naming the module: the
    program runs with this tool's pulumi and pulumi_gcp (requirements.txt), not its own
    virtualenv, which the CLI would create from its requirements. `on_register` is told of each
    registration as it is recorded (`PolicyPackProcess.stream`)."""
    try:
        emulation = Emulation(
            project_dir,
            stack,
            preview=preview,
            config=config,
            stack_references=dict(stack_references or {}),
        )
        emulation.monitor.on_register = on_register
        return emulation.run()
    except ModuleNotFoundError as exc:
        raise UsageError(
            f"{program_main(project_dir)}: imports {exc.name!r}, which preflight's environment "
            "does not have: the program runs with preflight's own pulumi and pulumi_gcp "
            "(requirements.txt), not with the program's virtualenv"
        ) from None


class PackStarts:
    """Packs launched ahead of the runs that will use them: one run of the gate that judges
    several stacks (`--all`), or one stack twice (`--state`: the change, then the deployed
    state), would otherwise wait for each pack's start (about 0.3 s: an interpreter, the SDK's
    imports, the pack's policies) after the previous verdict. Each is the same process the CLI
    starts for that stack (`PolicyPackProcess.launch`: same command, same environment), only
    started earlier, and where it can, forked from one parent that has imported the SDK
    (preflight/packforks.py); at most AHEAD are started and not yet taken at a time. A run takes
    the one launched for its project, stack, mode and config, or starts its own (`own`), and
    `close()` stops every pack of the run, taken or not: a run that ends early (a later
    program's error, an interrupt) leaves none running."""

    AHEAD = 3

    def __init__(self, pack_dir: Path) -> None:
        self.pack_dir = pack_dir
        self._ready: dict[tuple[str, str, bool, str], list[PolicyPackProcess]] = {}
        self._queue: list[tuple[Path, str, bool]] = []
        self._all: list[PolicyPackProcess] = []
        self._forks: Any = None  # preflight.packforks.PackForks, made by the first launch

    @staticmethod
    def _key(
        project: str, stack: str, preview: bool, config: Mapping[str, str]
    ) -> tuple[str, str, bool, str]:
        return (project, stack, preview, json.dumps(dict(config), sort_keys=True))

    def plan(self, project_dir: Path, stack: str, preview: bool) -> None:
        """A pack this run will need, in the order it needs them; launched AHEAD at a time."""
        self._queue.append((project_dir, stack, preview))
        self._fill()

    def _fill(self) -> None:
        while self._queue and sum(map(len, self._ready.values())) < self.AHEAD:
            self._launch(*self._queue.pop(0))

    def _launch(self, project_dir: Path, stack: str, preview: bool) -> None:
        """Start a pack for this stack now. A stack file that does not load starts none: its
        run reports the error."""
        from preflight.stackfile import StackFileError

        if not (self.pack_dir / "PulumiPolicy.yaml").is_file():
            return
        try:
            project = project_name(project_dir)
            config = load_stack_config(project_dir, stack)
        except (StackFileError, OSError, ValueError):
            return
        pack = PolicyPackProcess(
            self.pack_dir, project=project, stack=stack, dry_run=preview, config=config
        )
        if self._forks is None:
            from preflight import packforks

            if packforks.fork_supported():
                env = {k: v for k, v in os.environ.items() if k not in STACK_ENV}
                self._forks = packforks.PackForks(pack.python, env, str(pack.pack_dir))
        self._all.append(pack)
        pack.launch(self._forks)
        self._ready.setdefault(self._key(project, stack, preview, config), []).append(pack)

    def take(
        self, project: str, stack: str, preview: bool, config: Mapping[str, str]
    ) -> PolicyPackProcess | None:
        ready = self._ready.get(self._key(project, stack, preview, config))
        pack = ready.pop(0) if ready else None
        self._fill()
        return pack

    def own(self, pack: PolicyPackProcess) -> None:
        """A pack a run started itself: stopped by `close()` too."""
        self._all.append(pack)

    def close(self) -> None:
        for pack in self._all:
            pack.stop()  # stopping a stopped pack does nothing
        self._all.clear()
        self._ready.clear()
        self._queue.clear()
        if self._forks is not None:  # after its children: they die with it
            self._forks.close()
            self._forks = None


def begin_check(
    project_dir: Path,
    stack: str,
    *,
    preview: bool = False,
    graph: Graph | None = None,
    policy_config: Mapping[str, Any] | None = None,
    pack_dir: Path | None = None,
    stack_references: Mapping[str, dict[str, Any]] | None = None,
    packs: PackStarts | None = None,
) -> tuple[Graph, Callable[[], StackResult]]:
    """Plan `stack` (or take `graph`) and evaluate the policy pack on it over the protocol, in two
    parts (`begin_check(...)[1]()` does both). `stack_references`: referenced stack name -> its outputs (`load_stack_references`).
    `packs`: packs launched ahead (`PackStarts`), one of which this run takes if it matches.
    The program runs now (its graph is returned), while the pack
    starts, and is connected and configured at the program's imports once it has printed its
    port, or else at the program's first registration (`PolicyPackProcess.prepare`); what is
    returned sends Analyze and AnalyzeStack and returns the result. A gate judging several
    stacks calls it on a thread while the next program runs: each pack is its own process, so
    the stacks' evaluations cannot see each other."""
    pack_dir = pack_dir or project_dir / "policies"
    if graph is None:
        project = project_name(project_dir)
        config = load_stack_config(project_dir, stack)
    else:
        stack, preview, project = graph.stack, graph.preview, graph.project
        has_file = stack_file(project_dir, stack).is_file()
        config = load_stack_config(project_dir, stack) if has_file else {}
    if not (pack_dir / "PulumiPolicy.yaml").is_file():
        raise UsageError(f"no policy pack at {pack_dir} (PulumiPolicy.yaml missing)")
    pack = None
    if packs is not None and packs.pack_dir == pack_dir:
        pack = packs.take(project, stack, preview, config)
    if pack is None:
        pack = PolicyPackProcess(
            pack_dir, project=project, stack=stack, dry_run=preview, config=config
        )
        if packs is not None:
            packs.own(pack)
        pack.launch()  # the pack imports while the program runs
    pack.prepare(policy_config)
    try:
        if graph is None:
            graph = run_program(
                project_dir, stack, preview, config, stack_references, on_register=pack.stream
            )
    except BaseException:
        pack.stop()
        raise
    ran, judged_by = graph, pack_dir

    def finish() -> StackResult:
        try:
            verdict = unrelay_verdict(pack.evaluate(ran, policy_config))
        finally:
            pack.stop()
        rel = stack_file(project_dir, stack).relative_to(project_dir).as_posix()
        return StackResult(ran, verdict, pack_version(judged_by), rel)

    return ran, finish


def check_export(
    path: Path, pack_dir: Path, policy_config: Mapping[str, Any] | None = None
) -> StackResult | None:
    """Judge a `pulumi stack export` file as `pulumi policy analyze --policy-pack PACK --file
    PATH` does, offline (preflight.analyzer.evaluate_snapshot): secrets it cannot decrypt read
    "[secret]". None when the export has no resource (the command says so and stops)."""
    from preflight.analyzer import evaluate_snapshot
    from preflight.changes import state_graph
    from preflight.state import REDACTED, load_state

    # As the command reads it: plain UTF-8 JSON, an export (refuses an invalid URN).
    state = load_state(path, flag="--analyze", redacted=REDACTED, containers=False)
    if not state.resources:
        return None
    if not (pack_dir / "PulumiPolicy.yaml").is_file():
        raise UsageError(f"no policy pack at {pack_dir} (PulumiPolicy.yaml missing)")
    pack = PolicyPackProcess(
        pack_dir, project=state.project, stack=state.stack, dry_run=False, stack_settings=False
    )
    pack.start()
    try:
        verdict = unrelay_verdict(evaluate_snapshot(pack, state, policy_config))
    finally:
        pack.stop()
    graph = state_graph(state, analyzed=True)
    return StackResult(graph, verdict, pack_version(pack_dir), str(path), mode="analyze")
