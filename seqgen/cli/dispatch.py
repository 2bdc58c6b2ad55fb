"""What `sample` and `score` share: load a checkpoint, find its product, check options and outputs first."""

from __future__ import annotations

from typing import Any

from seqgen.cli.options import Opt, reject_inapplicable
from seqgen.errors import SeqgenError
from seqgen.tasks import Outcome


def load_for(options_table: list[Opt], options: dict[str, Any], outputs: tuple[str, ...]):
    """(spec, checkpoint, model) for options["model"], after rejecting options of other products and
    checking, before any work, that every output named in `outputs` can be written."""
    from seqgen.checkpoint import load_checkpoint
    from seqgen.fileio import check_output
    from seqgen.runtime import choose_device, set_threads
    from seqgen.tasks import get_task

    set_threads(options["threads"])
    device = choose_device(options["device"])
    ckpt = load_checkpoint(options["model"], map_location=device)
    try:
        spec = get_task(ckpt["task"])
    except SeqgenError as exc:
        raise SeqgenError(f"{options['model']}: {exc}") from None
    model = spec.load(ckpt, options["model"], device)  # first: a malformed checkpoint is the real problem
    reject_inapplicable(options_table, options, spec.name)
    for name in outputs:
        if options.get(name) is not None:
            suffixes = spec.sample_suffixes if name == "out" else (".csv",)
            check_output(options[name], suffixes)
    return spec, ckpt, model


def show(outcome: Outcome) -> None:
    """Print an outcome's lines, tables and the files it wrote."""
    from seqgen.runtime import console

    for line in outcome.lines:
        console.print(line, highlight=False, soft_wrap=True)
    if outcome.written:
        shown = ", ".join(str(p) for p in outcome.written[:6])
        more = f", … ({len(outcome.written)} files)" if len(outcome.written) > 6 else ""
        console.print(f"wrote {shown}{more}", highlight=False, soft_wrap=True)
    for table in outcome.tables:
        console.print(table)
