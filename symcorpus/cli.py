"""The `symcorpus` command: one sub-command per stage, plus `demo`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from symcorpus.config import SettingsError, load_settings

app = typer.Typer(
    help="Build versioned, deduplicated, annotated symbolic-music corpora.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)

from symcorpus.catalog.commands import catalog_app  # noqa: E402 - the sub-app needs `app` first

app.add_typer(catalog_app, name="catalog")
DEFAULT_PARAMS = Path("params.yaml")


class UsageError(Exception):
    """A mistake in the user's call: reported as one line, exit code 2."""


def _fail(message: str) -> None:
    console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(2)


def _settings(params: Optional[Path]):
    # An explicit --params must exist; the default params.yaml is used only when present.
    if params is None:
        params = DEFAULT_PARAMS if DEFAULT_PARAMS.is_file() else None
    return load_settings(params)


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def _summary(result) -> Table:
    table = Table(title=f"corpus version {result.out}", title_justify="left")
    columns = [("kept", "kept"), ("duplicates", "duplicate"), ("rejected", "rejected"), ("errors", "error")]
    table.add_column("format")
    for title, _ in columns:
        table.add_column(title, justify="right")
    table.add_column("input", justify="right")
    for fmt, counts in result.by_format.items():
        values = [counts.get(key, 0) for _, key in columns]
        if not sum(values):
            continue
        table.add_row("(unreadable)" if fmt == "unknown" else fmt, *[f"{v:,}" for v in values], f"{sum(values):,}")
    c = result.counts
    totals = [c["kept"], c["duplicates"], c["rejected"], c["errors"], c["input"]]
    table.add_row("[bold]total", *[f"[bold]{v:,}" for v in totals])
    return table


def _cache_line(result) -> str:
    inc = result.manifest.get("incremental") or {}
    if not inc.get("cache"):
        return ""
    return f"\nparse cache: {inc['reused']:,} records reused, {inc['parsed']:,} read and parsed anew"


def _summary_lines(result) -> str:
    c = result.counts
    return (
        f"input {c['input']:,} = kept {c['kept']:,} + duplicates {c['duplicates']:,} + rejected "
        f"{c['rejected']:,} + errors {c['errors']:,}; splits "
        + ", ".join(f"{k} {v:,}" for k, v in c["by_split"].items())
        + _cache_line(result)
        + f"\n{result.skipped_files:,} non-music files skipped; "
        f"{result.seconds:.1f} s, {result.pieces_per_second:,.0f} pieces/s"
    )


def _check_out(out: Path, overwrite: bool) -> None:
    if out.exists() and not overwrite:
        raise UsageError(f"output exists: {out} (use --overwrite to replace it)")


def _report(result, metrics: Optional[Path] = None) -> None:
    console.print(_summary(result))
    console.print(_summary_lines(result), highlight=False)
    if metrics is not None:  # a small JSON for `dvc metrics`
        m = result.manifest
        summary = {"counts": m["counts"], "dedup": m.get("dedup", {}), "incremental": m.get("incremental", {}),
                   "build_seconds": m.get("build_seconds")}
        metrics.parent.mkdir(parents=True, exist_ok=True)
        metrics.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")


Metrics = Annotated[Optional[Path], typer.Option(help="Also write counts and dedup figures to this JSON file.")]


def _run_build(sources: list[str], out: Path, params: Optional[Path], spark_master: Optional[str], overwrite: bool,
               cache: Optional[Path] = None, no_cache: bool = False, ingest_only: bool = False,
               metrics: Optional[Path] = None):
    from symcorpus.pipeline.build import build
    from symcorpus.pipeline.sources import SourceError, resolve_source

    try:
        settings = _settings(params)
        taken: set[str] = set()
        for spec in sources:  # check every source before starting Spark
            taken.add(resolve_source(spec, taken).name)
        _check_out(out, overwrite)
    except (SettingsError, SourceError, UsageError) as e:
        _fail(str(e))
    with _progress() as progress:
        if no_cache:
            settings.ingest.cache_dir = None
        if ingest_only:  # exact duplicates only, no quality rules: `dedup` and `filter` follow as stages
            from symcorpus.music.quality import RULE_CODES

            settings.dedup.levels = ["exact"]
            settings.filter.rules = {code: False for code in RULE_CODES}
            settings.filter.sources = {}
        result = build(sources, out, settings, spark_master=spark_master, overwrite=overwrite, progress=progress,
                       cache_root=cache)
    _report(result, metrics)
    return result


@app.command("build")
def build_command(
    sources: Annotated[list[str], typer.Argument(help="Directories, .zip/.tar/.tar.gz/.tgz archives, or 'music21'.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory of the published corpus version.")],
    params: Annotated[Optional[Path], typer.Option(help="params.yaml (default: ./params.yaml if present).")] = None,
    spark_master: Annotated[Optional[str], typer.Option(help="Spark master URL, e.g. spark://host:7077.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace OUT if it exists.")] = False,
    cache: Annotated[Optional[Path], typer.Option(help="Parse cache directory (default: params' ingest.cache_dir).")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Parse everything; neither read nor update a cache.")] = False,
    ingest_only: Annotated[bool, typer.Option("--ingest-only", help="Exact dedup only and no quality rules (DVC's first stage).")] = False,
    metrics: Metrics = None,
) -> None:
    """Ingest, parse, deduplicate, filter, annotate and publish SOURCES as a corpus version in OUT.

    With a parse cache, records already parsed by an earlier build (same content hash, same params)
    are only annotated again: a build given one more source parses just the new records."""
    _run_build(sources, out, params, spark_master, overwrite, cache, no_cache, ingest_only, metrics)


def _restage(corpus: Path, out: Path, params: Optional[Path], spark_master: Optional[str], overwrite: bool,
             stages: tuple[str, ...], metrics: Optional[Path] = None) -> None:
    from symcorpus.pipeline.build import restage_version

    try:
        settings = _settings(params)
        if not (corpus / "manifest.json").is_file():
            raise UsageError(f"not a published corpus version (no manifest.json): {corpus}")
        _check_out(out, overwrite)
    except (SettingsError, UsageError) as e:
        _fail(str(e))
    with _progress() as progress:
        result = restage_version(corpus, out, settings, stages=stages, spark_master=spark_master,
                                 overwrite=overwrite, progress=progress)
    _report(result, metrics)


CorpusIn = Annotated[Path, typer.Option("--corpus", help="A published corpus version.")]
NewOut = Annotated[Path, typer.Option("--out", "-o", help="Directory of the new version.")]
Params = Annotated[Optional[Path], typer.Option(help="params.yaml (default: ./params.yaml if present).")]
SparkMaster = Annotated[Optional[str], typer.Option(help="Spark master URL, e.g. spark://host:7077.")]
Overwrite = Annotated[bool, typer.Option(help="Replace OUT if it exists.")]


@app.command("dedup")
def dedup_command(corpus: CorpusIn, out: NewOut, params: Params = None, spark_master: SparkMaster = None, metrics: Metrics = None,
                  overwrite: Overwrite = False) -> None:
    """Deduplicate a published version again (e.g. with other dedup params) into OUT."""
    _restage(corpus, out, params, spark_master, overwrite, stages=(), metrics=metrics)


@app.command("filter")
def filter_command(corpus: CorpusIn, out: NewOut, params: Params = None, spark_master: SparkMaster = None, metrics: Metrics = None,
                   overwrite: Overwrite = False) -> None:
    """Apply the quality rules (params `filter`) to a published version again into OUT."""
    _restage(corpus, out, params, spark_master, overwrite, stages=("filter",), metrics=metrics)


@app.command("annotate")
def annotate_command(corpus: CorpusIn, out: NewOut, params: Params = None, spark_master: SparkMaster = None, metrics: Metrics = None,
                     overwrite: Overwrite = False) -> None:
    """Annotate a published version again (features, key, labels, captions, then the rules) into OUT."""
    _restage(corpus, out, params, spark_master, overwrite, stages=("annotate", "filter"), metrics=metrics)


@app.command("export-captions")
def export_captions_command(
    corpus: CorpusIn,
    out: Annotated[Path, typer.Option("--out", "-o", help="JSON-lines file to write.")],
    split: Annotated[Optional[str], typer.Option(help="Only this split (train, valid, test).")] = None,
) -> None:
    """Write MidiCaps-style JSON lines ({"location", "caption"}) for every kept piece."""
    from symcorpus.pipeline.export import export_captions

    try:
        if not (corpus / "manifest.json").is_file():
            raise UsageError(f"not a published corpus version (no manifest.json): {corpus}")
        if split is not None and split not in ("train", "valid", "test"):
            raise UsageError(f"unknown split {split!r}: choose train, valid or test")
    except UsageError as e:
        _fail(str(e))
    n = export_captions(corpus, out, split)
    console.print(f"wrote {n:,} captions to {out}", highlight=False)


@app.command("tokenize")
def tokenize_command(
    corpus: CorpusIn,
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory of the token shards.")],
    tokenizer: Annotated[str, typer.Option(help="remi (MIDI, every format through its notes) or abc (ABC scores).")] = "remi",
    params: Params = None,
    spark_master: SparkMaster = None,
    overwrite: Overwrite = False,
) -> None:
    """Write token shards per split (id, chunk, tokens, n_tokens, conditions) and the tokenizer."""
    from symcorpus.pipeline.tokenize_job import tokenize_command as run

    try:
        _settings(params)
        if tokenizer not in ("remi", "abc"):
            raise UsageError(f"unknown tokenizer {tokenizer!r}: choose remi or abc")
        if not (corpus / "manifest.json").is_file():
            raise UsageError(f"not a published corpus version (no manifest.json): {corpus}")
        _check_out(out, overwrite)
    except (SettingsError, UsageError) as e:
        _fail(str(e))
    params = params if params is not None else (DEFAULT_PARAMS if DEFAULT_PARAMS.is_file() else None)
    try:
        manifest = run(corpus, tokenizer, out, params, spark_master, overwrite)
    except ValueError as e:
        _fail(str(e))
    counts = manifest.get("counts", {}) if isinstance(manifest, dict) else {}
    console.print(f"token shards in {out}: " + json.dumps(counts), highlight=False, soft_wrap=True)


train_app = typer.Typer(help="Pretrain and fine-tune the generator from token shards.", no_args_is_help=True)
app.add_typer(train_app, name="train")

Tokens = Annotated[Path, typer.Option("--tokens", help="Token shards written by `symcorpus tokenize`.")]
NoRay = Annotated[bool, typer.Option("--no-ray", help="Train in this process, without Ray (same loop).")]
RayAddress = Annotated[Optional[str], typer.Option(help="An existing Ray cluster: 'auto' or ray://host:10001.")]


def _train_settings(params: Optional[Path]):
    try:
        return _settings(params).train
    except SettingsError as e:
        _fail(str(e))


def _command(fn, *args, **kwargs):
    """Run a train command function; its CommandError is the user's mistake, one line, exit 2."""
    from symcorpus.train.commands import CommandError

    try:
        return fn(*args, **kwargs)
    except CommandError as e:
        _fail(str(e))


def _write_loss_csv(result) -> None:
    """step,loss[,val_loss] beside the run's metrics.jsonl: what `dvc plots` draws."""
    rows = [h for h in result.history or [] if "step" in h and "loss" in h]
    lines = ["step,loss,val_loss"] + [f"{h['step']},{h['loss']},{h.get('val_loss', '')}" for h in rows]
    (Path(result.run_dir) / "loss.csv").write_text("\n".join(lines) + "\n")


def _run_line(result) -> None:
    _write_loss_csv(result)
    metrics = {k: v for k, v in (result.metrics or {}).items() if isinstance(v, (int, float))}
    shown = ", ".join(f"{k} {v:.4g}" for k, v in sorted(metrics.items()))
    console.print(f"run {result.run_dir}: checkpoint {result.checkpoint}\n{shown}", highlight=False, soft_wrap=True)


@train_app.command("pretrain")
def pretrain_command(
    tokens: Tokens,
    name: Annotated[str, typer.Option(help="Run name under train.storage_path; the same name resumes.")],
    preset: Annotated[Optional[str], typer.Option(help="tiny | small | base.")] = None,
    max_steps: Annotated[Optional[int], typer.Option()] = None,
    batch_size: Annotated[Optional[int], typer.Option()] = None,
    block_size: Annotated[Optional[int], typer.Option()] = None,
    num_workers: Annotated[Optional[int], typer.Option(help="Ray Train workers.")] = None,
    use_gpu: Annotated[Optional[bool], typer.Option("--gpu/--cpu")] = None,
    storage_path: Annotated[Optional[str], typer.Option(help="Where runs live (local path or s3://...).")] = None,
    no_ray: NoRay = False,
    ray_address: RayAddress = None,
    params: Params = None,
) -> None:
    """Pretrain the generator on the train split (validation loss on the valid split)."""
    from symcorpus.train import commands

    result = _command(commands.pretrain, tokens, name, settings=_train_settings(params), preset=preset,
                      max_steps=max_steps, batch_size=batch_size, block_size=block_size, num_workers=num_workers,
                      use_gpu=use_gpu, storage_path=storage_path, no_ray=no_ray, ray_address=ray_address)
    _run_line(result)


@train_app.command("finetune")
def finetune_command(
    tokens: Tokens,
    init: Annotated[str, typer.Option(help="The pretrain run (name, run directory or checkpoint).")],
    name: Annotated[str, typer.Option(help="Name of the fine-tune run; the same name resumes.")],
    corpus: Annotated[Optional[Path], typer.Option(help="Corpus the labelled subset is chosen from (default: the tokens' corpus).")] = None,
    min_quality: Annotated[Optional[float], typer.Option(help="quality_score threshold of the subset.")] = None,
    ids: Annotated[Optional[Path], typer.Option(help="A file of corpus ids to fine-tune on instead.")] = None,
    max_steps: Annotated[Optional[int], typer.Option()] = None,
    learning_rate: Annotated[Optional[float], typer.Option()] = None,
    batch_size: Annotated[Optional[int], typer.Option()] = None,
    block_size: Annotated[Optional[int], typer.Option(help="Tokens per sequence (at most the pretrain run's).")] = None,
    num_workers: Annotated[Optional[int], typer.Option()] = None,
    use_gpu: Annotated[Optional[bool], typer.Option("--gpu/--cpu")] = None,
    storage_path: Annotated[Optional[str], typer.Option()] = None,
    no_ray: NoRay = False,
    ray_address: RayAddress = None,
    params: Params = None,
) -> None:
    """Fine-tune a pretrained run on the labelled high-quality subset, with condition tokens."""
    from symcorpus.train import commands

    settings = _train_settings(params).replace(block_size=block_size)
    result = _command(commands.finetune, tokens, init, name, settings=settings, corpus=corpus,
                      min_quality=min_quality, ids_file=ids, max_steps=max_steps, learning_rate=learning_rate,
                      batch_size=batch_size, num_workers=num_workers, use_gpu=use_gpu, storage_path=storage_path,
                      no_ray=no_ray, ray_address=ray_address)
    _run_line(result)


@app.command("generate")
def generate_command(
    checkpoint: Annotated[str, typer.Option(help="A run (name under train.storage_path, directory) or checkpoint.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for the samples.")],
    prompt: Annotated[Optional[str], typer.Option(help='Conditions, e.g. \'key="E minor" time_signature=3/4 tempo=Andante\'.')] = None,
    n: Annotated[Optional[int], typer.Option(help="How many samples.")] = None,
    max_new_tokens: Annotated[Optional[int], typer.Option()] = None,
    temperature: Annotated[Optional[float], typer.Option()] = None,
    top_k: Annotated[Optional[int], typer.Option()] = None,
    top_p: Annotated[Optional[float], typer.Option()] = None,
    seed: Annotated[Optional[int], typer.Option()] = None,
    params: Params = None,
) -> None:
    """Sample music (MIDI or ABC) with a piano-roll PNG per sample (and a WAV where FluidSynth is)."""
    from symcorpus.train import commands

    result = _command(commands.generate, checkpoint, prompt, n, out, settings=_train_settings(params),
                      max_new_tokens=max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed)
    console.print(f"samples in {out}" + (f": {result}" if isinstance(result, (str, int)) else ""), highlight=False)


@app.command("evaluate")
def evaluate_command(
    checkpoint: Annotated[str, typer.Option(help="A run (name, directory) or checkpoint.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for evaluation.json and the samples.")],
    tokens: Annotated[Optional[Path], typer.Option(help="Token shards whose valid split gives the condition sets.")] = None,
    prompt: Annotated[Optional[list[str]], typer.Option(help="A condition set (repeatable) instead.")] = None,
    n_sets: Annotated[Optional[int], typer.Option()] = None,
    samples_per_set: Annotated[Optional[int], typer.Option()] = None,
    max_new_tokens: Annotated[Optional[int], typer.Option()] = None,
    params: Params = None,
) -> None:
    """Does the model obey its conditions? CK, CTS, TB/TBT, CI vs unconditioned samples."""
    from symcorpus.train import commands
    from symcorpus.train.evaluate import format_table

    report = _command(commands.evaluate, checkpoint, out, tokens=tokens, prompts=prompt,
                      settings=_train_settings(params), n_sets=n_sets, samples_per_set=samples_per_set,
                      max_new_tokens=max_new_tokens)
    print(format_table(report))
    console.print(f"report: {out / 'evaluation.json'}", highlight=False)


@app.command("demo")
def demo_command(
    params: Annotated[Optional[Path], typer.Option(help="params.yaml (default: ./params.yaml if present).")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Where to publish (default: params' demo.out).")] = None,
    build_only: Annotated[bool, typer.Option("--build-only", help="Stop after the corpus build.")] = False,
) -> None:
    """The whole loop on music21's bundled corpus: build, tokenize, tiny pretrain + finetune, samples."""
    import shutil

    try:
        settings = _settings(params)
    except SettingsError as e:
        _fail(str(e))
    demo = settings.demo
    target = out or Path(demo.out)
    result = _run_build(["music21"], target, params, None, overwrite=True)
    c = result.counts
    lines = [
        "\n[bold green]Made[/] from music21's bundled corpus:",
        f"  {result.out}/corpus/{{train,valid,test}}/  {c['kept']:,} annotated pieces (key, labels, caption...) as Parquet",
        f"  {result.out}/duplicates/  {c['duplicates']:,} copies and variants, each with its representative",
        f"  {result.out}/rejects/     {c['rejected']:,} pieces that failed a quality rule, each with its reason",
        f"  {result.out}/errors/      {c['errors']:,} records that could not be parsed, each with its reason",
        f"  {result.out}/manifest.json  counts, params, sources and a sha256 for every shard",
    ]
    if not build_only:
        from symcorpus.pipeline.tokenize_job import tokenize_command as tokenize
        from symcorpus.train import commands

        tokens, runs, samples = Path(demo.tokens), Path(demo.runs), Path(demo.samples)
        for stale in (runs, samples):  # a demo starts its runs afresh (a same-named run would resume)
            shutil.rmtree(stale, ignore_errors=True)
        params_path = params if params is not None else (DEFAULT_PARAMS if DEFAULT_PARAMS.is_file() else None)
        console.print("[bold]tokenize[/] (REMI+, condition tokens from the labels)")
        tokenize(result.out, "remi", tokens, params_path, None, True)
        train = settings.train.replace(preset=demo.preset, block_size=demo.block_size, batch_size=demo.batch_size,
                                       storage_path=str(runs), checkpoint_every=max(demo.pretrain_steps // 2, 1),
                                       warmup_steps=min(settings.train.warmup_steps, demo.pretrain_steps // 5))
        console.print(f"[bold]pretrain[/] a {demo.preset} model for {demo.pretrain_steps} steps")
        _command(commands.pretrain, tokens, "pretrain", settings=train, max_steps=demo.pretrain_steps,
                 no_ray=not demo.use_ray, use_gpu=False)
        console.print(f"[bold]finetune[/] on the labelled subset for {demo.finetune_steps} steps")
        _command(commands.finetune, tokens, "pretrain", "finetune", settings=train, max_steps=demo.finetune_steps,
                 no_ray=not demo.use_ray, use_gpu=False)
        console.print(f"[bold]generate[/] {demo.n_samples} samples for: {demo.prompt}")
        _command(commands.generate, str(runs / "finetune"), demo.prompt, demo.n_samples, samples, settings=train,
                 max_new_tokens=demo.max_new_tokens, seed=0)
        lines += [
            f"  {tokens}/  token shards per split + tokenizer.json",
            f"  {runs}/pretrain, {runs}/finetune  checkpoints and metrics.jsonl (loss curves)",
            f"  {samples}/  {demo.n_samples} generated MIDI files, each with a piano-roll PNG",
        ]
    lines.append(
        f"Query it: .venv/bin/symcorpus catalog register {result.out} && "
        f".venv/bin/symcorpus catalog query \"SELECT labels.period, count(*) FROM {result.out.name}_corpus GROUP BY 1\"")
    console.print("\n".join(lines), highlight=False, soft_wrap=True)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
