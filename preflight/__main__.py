"""The offline preflight gate for pull requests.

    python -m preflight [STACK] [--preview] [--all] [--program DIR] [--policy-pack DIR]
                        [--policy-pack-config FILE] [--export FILE] [--graph FILE]
                        [--format text|json|sarif] [--output FILE] [--no-plan]
                        [--state EXPORT [--allow-replace NAME]...] [--stack-reference NAME=FILE]...
    python -m preflight --analyze EXPORT [--policy-pack DIR] [--policy-pack-config FILE]
                        [--format text|json|sarif] [--output FILE]
    python -m preflight outputs [--file FILE | --stack STACK --mock [--preview]]
                                [--format dotenv|json|yaml] [--output FILE]
    python -m preflight references [STACK] [--program DIR]

Runs the Pulumi program under the engine emulation, starts the policy pack as the CLI does and
drives it over the Analyzer protocol, then prints the plan, the diagnostics grouped by resource,
and a summary. Exit status: 0 no mandatory violation, 1 mandatory violations (or, for `outputs`,
a broken output contract), 2 a config or usage error (one message, no traceback).

With `--state EXPORT` (what `pulumi stack export` writes) the program is diffed against the
deployed state as the engine would (create, update, replace, delete, same), the pack also judges
the deployed state, and a replace or delete of what holds data or carries the path (Redis, a
network, a subnet, a connector, a secret) fails the gate unless acknowledged with
`--allow-replace NAME`; a replace or delete the engine or the provider refuses (`protect`,
`deletionProtection`, `deletionPolicy: PREVENT` in the deployed state) is blocked. Taint, pending
replacements, retained resources and pending operations in the export are read as the engine
reads them (docs/preflight.md).

A program that reads another stack (`pulumi.StackReference`, e.g. `sharedVpc.stackReference`)
needs that stack's outputs: `--stack-reference NAME=FILE`, FILE being what
`pulumi stack output --json --show-secrets --stack NAME` prints; without them the stack is a
config error (exit 2) naming the reference.

`--program DIR` runs any Pulumi Python program instead of this repository's (DIR holds
Pulumi.yaml, Pulumi.<STACK>.yaml and its entry point). Its own virtualenv is not used: it runs
with this tool's pulumi and pulumi_gcp. `--policy-pack DIR` judges with another pack than this
repository's policies/.

`--analyze EXPORT` runs no program: it judges a `pulumi stack export` file exactly as
`pulumi policy analyze --policy-pack policies --file EXPORT` does (Pulumi CLI 3.249+): the pack
is started with no stack name and no stack config, every resource but those pending deletion is
analyzed on its inputs and the stack on its outputs, and a secret the CLI cannot decrypt offline
reads "[secret]" (a value the pack cannot judge). Exit status as above.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import signal
import sys
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise SystemExit(f"usage error: {message}")


def _gate_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m preflight",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "stack",
        nargs="?",
        default=None,
        help="stack name (Pulumi.<stack>.yaml); default staging",
    )
    p.add_argument("--preview", action="store_true", help="preview mode: computed outputs unknown")
    p.add_argument("--all", action="store_true", help="every Pulumi.*.yaml stack")
    p.add_argument(
        "--policy-pack-config",
        type=Path,
        metavar="FILE",
        help="policy config in the CLI's JSON format",
    )
    p.add_argument(
        "--export",
        type=Path,
        metavar="FILE",
        help="write the recorded graph as JSON ({stack} is replaced)",
    )
    p.add_argument(
        "--graph",
        type=Path,
        metavar="FILE",
        help="evaluate an exported graph instead of running the program",
    )
    p.add_argument("--format", choices=("text", "json", "sarif"), default="text")
    p.add_argument(
        "--output", type=Path, metavar="FILE", help="write the report here instead of stdout"
    )
    p.add_argument(
        "--no-plan", action="store_true", help="text format: diagnostics and summary only"
    )
    p.add_argument(
        "--state",
        type=Path,
        metavar="EXPORT",
        help="diff against the deployed state (`pulumi stack export` output)",
    )
    p.add_argument(
        "--allow-replace",
        action="append",
        default=[],
        metavar="NAME",
        help="acknowledge a replace or delete of NAME (logical name or URN); repeatable",
    )
    p.add_argument(
        "--stack-reference",
        action="append",
        default=[],
        metavar="NAME=FILE",
        help="outputs of a stack the program reads through a StackReference (FILE: `pulumi "
        "stack output --json --show-secrets --stack NAME`); repeatable",
    )
    p.add_argument(
        "--program",
        type=Path,
        metavar="DIR",
        dest="project_dir",
        help="run this Pulumi Python program (Pulumi.yaml, Pulumi.<stack>.yaml, __main__.py) "
        "with preflight's pulumi and pulumi_gcp, not its own virtualenv; default this repository",
    )
    # The earlier, undocumented name of --program.
    p.add_argument("--project-dir", type=Path, dest="project_dir", help=argparse.SUPPRESS)
    p.add_argument(
        "--policy-pack",
        type=Path,
        metavar="DIR",
        default=PROJECT_DIR / "policies",
        help="the policy pack to run (default: this repository's policies/)",
    )
    p.add_argument(
        "--analyze",
        type=Path,
        metavar="EXPORT",
        help="judge a `pulumi stack export` file as `pulumi policy analyze --file` does; "
        "no program runs",
    )
    return p


def _export_path(template: Path, stack: str, many: bool) -> Path:
    text = str(template)
    if "{stack}" in text:
        return Path(text.replace("{stack}", stack))
    if many:
        return template.with_name(f"{template.stem}.{stack}{template.suffix}")
    return template


def _named(file: str, exc: Exception) -> str:
    """An error of one stack, naming its stack file once."""
    text = str(exc)
    return text if text.startswith(file) or f" {file}" in text else f"{file}: {text}"


def _drop_stale(output: Path | None) -> None:
    """No report was written: remove an earlier run's, so nothing reads it as this run's."""
    if output is None:
        return
    with contextlib.suppress(OSError):
        output.unlink(missing_ok=True)


def _emit(output: Path | None, report: str, summary: str) -> bool:
    """The report to `output` (then the summary lines on stdout) or to stdout; False when the
    file cannot be written (said on stderr, no stale report left)."""
    if output is None:
        sys.stdout.write(report)
        return True
    try:
        output.write_text(report)
    except OSError as exc:
        print(f"error: --output: cannot write {output} ({exc.strerror})", file=sys.stderr)
        _drop_stale(output)
        return False
    print(summary)
    return True


def _warn_unused(given: list[str], read: list[str]) -> None:
    """A `--stack-reference NAME` the program never read (a misspelt NAME, most likely): one
    warning line naming it and the stacks the program did read. The run goes on."""
    unused = [name for name in given if name not in read]
    if unused:
        print(
            f"warning: --stack-reference {', '.join(unused)}: the program does not read "
            f"{'these stacks' if len(unused) > 1 else 'this stack'}, so it is unused "
            f"(it reads: {', '.join(read) or 'none'}); check the name",
            file=sys.stderr,
        )


def _reject_ignored(args: argparse.Namespace) -> None:
    """An argument the run would not use is a mistake to report, not to drop silently."""
    from preflight.gate import UsageError

    if args.all and args.stack is not None:
        raise UsageError(
            f"stack {args.stack!r} given with --all (which runs every stack); give one or the other"
        )
    if args.graph and args.stack is not None:
        raise UsageError(
            f"stack {args.stack!r} given with --graph {args.graph} (the graph names its own stack)"
        )
    if args.graph and args.stack_reference:
        raise UsageError(
            f"--stack-reference given with --graph {args.graph} (the graph records the "
            "program's run, stack references included)"
        )
    if args.graph and args.project_dir is not None:
        raise UsageError(
            f"--program {args.project_dir} given with --graph {args.graph} (the graph records "
            "its program's run; no program runs): give one or the other"
        )
    if args.graph and args.preview:
        raise UsageError(
            f"--preview given with --graph {args.graph} (the graph records its own mode)"
        )
    if args.analyze:
        given = {
            f"stack {args.stack!r}": args.stack is not None,
            "--preview": args.preview,
            "--all": args.all,
            "--graph": args.graph,
            "--state": args.state,
            "--allow-replace": args.allow_replace,
            "--export": args.export,
            "--program": args.project_dir is not None,
            "--stack-reference": args.stack_reference,
        }
        for name, value in given.items():
            if value:
                raise UsageError(
                    f"{name} given with --analyze {args.analyze}: the export is judged as it is, "
                    "no program runs (give one or the other)"
                )


def review_change(
    project_dir: Path,
    graph: Any,
    state: Any,
    allowed: list[str],
    policy_config: Any,
    stack_references: dict[str, Any] | None = None,
    pack_dir: Path | None = None,
    packs: Any = None,
    evaluations: Any = None,
) -> Any:
    """The program's run diffed against the deployed state, and the pack on that state: the
    pack judges the deployed state (on `evaluations`, a thread, when given) while the diff runs
    the program against it; neither needs the other."""
    from preflight.changes import Change, state_graph
    from preflight.gate import begin_check

    deployed = state_graph(state)
    _, finish = begin_check(
        project_dir,
        state.stack,
        graph=deployed,
        policy_config=policy_config,
        pack_dir=pack_dir,
        packs=packs,
    )
    judged = evaluations.submit(finish) if evaluations is not None else None
    change = Change.of(project_dir, graph, state, allowed, stack_references, deployed)
    change.deployed = judged.result() if judged is not None else finish()
    return change


def analyze(args: argparse.Namespace) -> int:
    """`--analyze EXPORT`: the export judged as `pulumi policy analyze --file` judges it."""
    from preflight.analyzer import PolicyConfigError, PolicyPackError
    from preflight.gate import UsageError, check_export, load_policy_config
    from preflight.report import render_json, render_sarif, render_text
    from preflight.state import StateError

    try:
        _reject_ignored(args)
        policy_config = (
            load_policy_config(args.policy_pack_config) if args.policy_pack_config else None
        )
        result = check_export(args.analyze, args.policy_pack.resolve(), policy_config)
    except (PolicyConfigError, PolicyPackError, StateError, UsageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        _drop_stale(args.output)
        return 2
    if result is None:  # as the CLI: nothing to analyze is no failure
        print(f"File {args.analyze} has no resources; nothing to analyze.", file=sys.stderr)
        _drop_stale(args.output)
        return 0
    if args.format == "json":
        report = render_json([result])
    elif args.format == "sarif":
        report = render_sarif([result], Path.cwd())
    else:
        report = render_text([result], plan=False)
    if not _emit(args.output, report, result.summary()):
        return 2
    return 1 if result.mandatory else 0


def gate(argv: list[str]) -> int:
    args = _gate_parser().parse_args(argv)
    from infra.config import ConfigError
    from preflight.analyzer import PolicyConfigError, PolicyPackError
    from preflight.engine import StackReferenceError, read_stacks
    from preflight.gate import (
        PackStarts,
        UsageError,
        begin_check,
        load_policy_config,
        load_stack_references,
    )
    from preflight.graph import Graph
    from preflight.report import render_json, render_sarif, render_text
    from preflight.stackfile import StackFileError, program_main, stack_file, stacks

    if args.analyze:
        return analyze(args)
    project_dir: Path = (args.project_dir or PROJECT_DIR).resolve()
    pack_dir: Path = args.policy_pack.resolve()
    expected: tuple[type[Exception], ...] = (
        ConfigError,
        StackFileError,
        StackReferenceError,
        PolicyConfigError,
        PolicyPackError,
        UsageError,
    )
    if args.state:
        from preflight.state import StateError

        expected += (StateError,)
    packs = PackStarts(pack_dir)
    # Several evaluations (--all, or --state's two): each goes on this thread, talking to its
    # own pack, while the main thread runs the next program or the diff.
    evaluations: Any = None
    try:
        _reject_ignored(args)
        program_main(project_dir)  # a Pulumi Python program, with its entry point
        if args.stack is None:
            args.stack = "staging"
        if args.graph and args.all:
            raise UsageError(
                "--graph evaluates one exported graph; it cannot be combined with --all"
            )
        policy_config = (
            load_policy_config(args.policy_pack_config) if args.policy_pack_config else None
        )
        references = load_stack_references(args.stack_reference)
        if args.state and args.all:
            raise UsageError("--state is one stack's export; it cannot be combined with --all")
        if args.allow_replace and not args.state:
            raise UsageError("--allow-replace acknowledges a change against --state EXPORT")
        state = None
        if args.state:
            from preflight.state import load_state

            state = load_state(args.state)
            if args.graph:
                raise UsageError(
                    "--state runs the program against the deployed outputs; it cannot take --graph"
                )
            import dataclasses

            from preflight.stackfile import project_name

            # An export with no resources names neither; a checkpoint names its stack (and,
            # project-scoped, its project): check what the file names, take the rest from
            # the program.
            project = project_name(project_dir)
            if state.project and state.project != project:
                raise UsageError(
                    f"--state {args.state} is the export of project {state.project!r}, "
                    f"not {project!r}"
                )
            if state.stack and state.stack != args.stack:
                raise UsageError(
                    f"--state {args.state} is the export of stack {state.stack!r}, "
                    f"not {args.stack!r}"
                )
            state = dataclasses.replace(state, stack=args.stack, project=project)
        names = stacks(project_dir) if args.all else [args.stack]
        if not names:
            raise UsageError(f"no Pulumi.*.yaml stack files in {project_dir}")
        if not args.graph and (len(names) > 1 or state is not None):
            # Every pack this run needs starts now, while the first program imports and runs.
            for name in names:
                packs.plan(project_dir, name, args.preview)
            if state is not None:  # the deployed state is judged as an update's
                packs.plan(project_dir, args.stack, False)
            from concurrent.futures import ThreadPoolExecutor

            evaluations = ThreadPoolExecutor(1, thread_name_prefix="evaluate")
        results = []
        pending: list[Any] = []  # each stack's evaluation: a future on `evaluations`, or to call
        graphs: list[Graph] = []
        broken: list[tuple[str, str]] = []  # --all: (stack file, message) not evaluated
        read: list[str] = []  # the stacks the program read (StackReference), every stack's run
        ran = True  # every run got as far as its reads (else a stack it would read is unknown)
        for name in names:
            graph = None
            if args.graph:
                try:
                    graph = Graph.load(args.graph)
                except (OSError, ValueError) as exc:
                    raise UsageError(
                        f"--graph {args.graph}: not an exported graph ({exc})"
                    ) from None
            try:
                graph, finish = begin_check(
                    project_dir,
                    name,
                    preview=args.preview,
                    graph=graph,
                    policy_config=policy_config,
                    stack_references=references,
                    pack_dir=pack_dir,
                    packs=packs,
                )
            except (ConfigError, StackFileError, StackReferenceError) as exc:
                if isinstance(exc, StackReferenceError):
                    read += exc.read
                else:
                    ran = False
                if not args.all:
                    if ran:
                        _warn_unused(list(references), read)
                    raise
                file = stack_file(project_dir, name).name
                broken.append((file, _named(file, exc)))
                continue
            pending.append(finish if evaluations is None else evaluations.submit(finish))
            graphs.append(graph)
            read += read_stacks(graph)
        if ran:
            _warn_unused(list(references), list(dict.fromkeys(read)))
        if not pending:
            raise UsageError("; ".join(message for _, message in broken))
        if state is not None:
            change = review_change(
                project_dir,
                graphs[0],
                state,
                args.allow_replace,
                policy_config,
                references,
                pack_dir,
                packs,
                evaluations,
            )
        results = [p() if callable(p) else p.result() for p in pending]
        for graph in graphs if args.export else ():  # only once every stack was judged
            path = _export_path(args.export, graph.stack, len(names) > 1)
            try:
                graph.save(path)
            except OSError as exc:
                raise UsageError(f"--export: cannot write {path} ({exc.strerror})") from None
    except expected as exc:
        print(f"error: {exc}", file=sys.stderr)
        _drop_stale(args.output)
        return 2
    finally:
        if evaluations is not None:
            evaluations.shutdown(wait=True, cancel_futures=True)
        packs.close()

    if args.format == "json":
        report = render_json(results, broken)
        if state is not None:
            report = change.add_to_json(report)
    elif args.format == "sarif":
        report = render_sarif(results, project_dir, broken)
    else:
        report = render_text(results, plan=not args.no_plan and state is None)
        if state is not None:
            report = change.text() + "\n" + report
    if not _emit(args.output, report, "\n".join(r.summary() for r in results)):
        return 2
    failed = any(r.mandatory for r in results)
    if state is not None:
        failed = failed or change.failed
        if args.output:
            print(change.summary())
    if broken:
        for _, message in broken:
            print(f"error: {message}", file=sys.stderr)
        print(
            f"error: {len(broken)} of {len(names)} stack files not evaluated; "
            "the report covers the others",
            file=sys.stderr,
        )
        return 2
    return 1 if failed else 0


def _outputs_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m preflight outputs", description="Stack outputs -> application config."
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument(
        "--file",
        type=Path,
        help="`pulumi stack output --json --show-secrets` saved to a file ('-' for stdin)",
    )
    src.add_argument(
        "--stack",
        help="render the offline emulation's placeholder values for this stack (needs --mock)",
    )
    p.add_argument(
        "--mock",
        action="store_true",
        help="with --stack: accept mock values, each marked PREFLIGHT-MOCK: (never deployable)",
    )
    p.add_argument("--preview", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--format", choices=("dotenv", "json", "yaml"), default="dotenv")
    p.add_argument("--output", type=Path, help="write here instead of stdout")
    p.add_argument("--project-dir", type=Path, default=PROJECT_DIR, help=argparse.SUPPRESS)
    return p


def outputs(argv: list[str]) -> int:
    args = _outputs_parser().parse_args(argv)

    from infra.config import ConfigError
    from preflight import appconfig, wire
    from preflight.stackfile import StackFileError

    try:
        if args.stack and not args.mock:
            raise ValueError(
                f"--stack {args.stack} renders the offline emulation's mock values, not the "
                "deployed stack's; add --mock to accept placeholders (marked, never deployable), "
                "or give --file with `pulumi stack output --json --show-secrets`"
            )
        for flag, given in (("--mock", args.mock), ("--preview", args.preview)):
            if given and not args.stack:
                raise ValueError(f"{flag} applies to --stack STACK only")
        if args.stack:
            from preflight.engine import run_program

            data = wire.plain(
                run_program(args.project_dir, args.stack, preview=args.preview).outputs
            )
        elif args.file and str(args.file) != "-":
            data = appconfig.parse_outputs(args.file.read_text(), str(args.file))
        elif args.file or not sys.stdin.isatty():
            data = appconfig.parse_outputs(sys.stdin.read(), "stdin")
        else:
            raise ValueError(
                "give --file FILE, pipe `pulumi stack output --json --show-secrets`, or --stack STACK --mock"
            )
        config = appconfig.app_config(data)
    except appconfig.ContractError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (ValueError, OSError, ConfigError, StackFileError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    text = appconfig.render(config, args.format, mock=bool(args.stack))
    if args.output:
        try:
            args.output.write_text(text)
        except OSError as exc:
            print(f"error: --output: cannot write {args.output} ({exc.strerror})", file=sys.stderr)
            return 2
    else:
        sys.stdout.write(text)
    return 0


def _references_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m preflight references",
        description=(
            "The stacks the program reads through pulumi.StackReference, one name per line: "
            "what a workflow with Pulumi credentials fetches (`pulumi stack output --json "
            "--show-secrets --stack NAME`) and passes as --stack-reference NAME=FILE."
        ),
    )
    p.add_argument("stack", nargs="?", default="staging", help="stack name; default staging")
    p.add_argument(
        "--program",
        type=Path,
        metavar="DIR",
        dest="project_dir",
        help="the Pulumi Python program (default this repository)",
    )
    return p


def references(argv: list[str]) -> int:
    """Runs the program in preview with no other stack's outputs (each read answers unknown, as
    for a missing --stack-reference) and prints the stacks it read. Exit 0, or 2 for a stack or
    config error (one message)."""
    args = _references_parser().parse_args(argv)
    from infra.config import ConfigError
    from preflight.engine import Emulation, MissingStackReferenceError
    from preflight.gate import UsageError
    from preflight.stackfile import StackFileError, program_main

    project_dir: Path = (args.project_dir or PROJECT_DIR).resolve()
    try:
        program_main(project_dir)
        Emulation(project_dir, args.stack, preview=True).run()
    except MissingStackReferenceError as exc:
        print("\n".join(exc.names))
    except (ConfigError, StackFileError, UsageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _terminated(*_: object) -> None:
    # No import here: the signal may arrive in the middle of one. No pack without this module.
    analyzer = sys.modules.get("preflight.analyzer")
    if analyzer is not None and hasattr(analyzer, "terminate_all"):
        analyzer.terminate_all()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(143)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # A one-shot run makes little cyclic garbage, but the collector would walk the tens of
    # thousands of classes pulumi_gcp defines while they load: about 0.3 s of a 2.5 s gate.
    gc.disable()
    try:
        if argv[:1] == ["outputs"]:
            return outputs(argv[1:])
        if argv[:1] == ["references"]:
            return references(argv[1:])
        return gate(argv)
    except SystemExit as exc:  # argparse: --help (code 0) or a usage error (a message)
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
            return 2
        return int(exc.code or 0)


if __name__ == "__main__":
    # A CI job cancelled or timed out sends SIGTERM: stop the packs this run started (forked
    # ones also die with their parent, whose socket closes with this process) and exit 143, as a
    # shell reports a SIGTERM. Not by raising SystemExit: it may land inside an import or code
    # that catches it.
    signal.signal(signal.SIGTERM, _terminated)
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Tearing down the interpreter after pulumi_gcp is loaded takes about a second (freeing tens
    # of thousands of generated classes); a one-shot CLI has nothing left to clean up.
    os._exit(code)
