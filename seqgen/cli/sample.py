"""`seqgen sample`: songs from a music model or text from a language model, dispatched on the checkpoint."""

from __future__ import annotations

from typing import Any

from seqgen.cli.dispatch import load_for, show
from seqgen.cli.inputs import check_inputs, check_sample_length
from seqgen.cli.options import SAMPLE, command


@command(SAMPLE)
def sample(options: dict[str, Any]) -> None:
    """Sample songs from a music model (default: the shipped RNN-NADE) or continue a prompt with a text model."""
    from seqgen.errors import SeqgenError

    if options["frames"] is not None and options["seconds"] is not None:
        raise SeqgenError("give --frames or --seconds, not both")
    if options["seed"] is None:
        import secrets

        options["seed"] = secrets.randbelow(2**31)
    check_inputs(options, {"model": "checkpoint file", "primer": "MIDI file", "soundfont": "soundfont file"})
    check_sample_length(options)
    if options["model"] is None:
        from seqgen.music.sample import shipped_model

        options["model"] = shipped_model()
    spec, ckpt, model = load_for(SAMPLE, options, outputs=("out",))
    outcome = _run(spec, ckpt, model, options)
    if "texts" in outcome.result:
        import typer

        typer.echo("\n\n".join(outcome.result["texts"]))
    show(outcome)


def _run(spec, ckpt, model, options):
    """Call the product's sampler under a progress bar over frames or tokens."""
    from seqgen.runtime import progress

    with progress(transient=True) as bar:
        task = bar.add_task("sample", total=None, status=f"{options['n']} at once")
        return spec.sample(ckpt, model, options, lambda done, total: bar.update(task, completed=done, total=total))
