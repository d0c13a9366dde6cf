"""Fine-tuning, zero-shot and few-shot evaluation runs, with outputs in a workdir.

Outputs: metrics.jsonl and TensorBoard events (vit_jax.reporting.writer.MetricWriter), Orbax
checkpoints of the whole run (vit_jax.checkpoints.run_checkpoints), results.json, results.md and
plots (vit_jax.reporting.run_report). A fine-tuning run killed at any point and started again
with the same config resumes from its last checkpoint and ends with the parameters and metrics
of an uninterrupted run (only the timing numbers differ).

Steps are counted in optimizer updates of `recipe.batch_size` examples; with gradient accumulation
each update is one compiled step over `recipe.grad_accum_steps` micro-batches of one loaded batch.
"""

import contextlib
import dataclasses
import datetime
import time
from collections.abc import Callable
from pathlib import Path

import jax
import ml_collections
from jax.sharding import Mesh
from tqdm import tqdm

from vit_jax.checkpoints import run_checkpoints
from vit_jax.common import interrupts
from vit_jax.common.workdir_lock import WorkdirLock
from vit_jax.reporting.writer import MetricWriter
from vit_jax.training import console, experiment, outputs, parallel, zeroshot
from vit_jax.training.evaluator import Evaluator
from vit_jax.training.progress import (
    Interrupted,
    Window,
)
from vit_jax.training.run_start import close_window, prepare_run


def _finetune(
    *,
    config: ml_collections.ConfigDict,
    exp: experiment.Experiment,
    evaluator: Evaluator,
    mesh: Mesh,
    workdir: Path,
    on_step: Callable[[int], None] | None,
) -> dict:
    chief = jax.process_index() == 0
    recipe = exp.recipe
    steps_per_epoch = exp.steps_per_epoch
    run = prepare_run(config=config, exp=exp, mesh=mesh, workdir=workdir)
    total_steps, progress, manager, state = run.total_steps, run.progress, run.manager, run.state
    writer = MetricWriter(workdir=workdir, resume_step=run.latest) if chief else None
    if chief:
        print(
            console.start_block(
                config=config,
                exp=exp,
                workdir=str(workdir),
                total_steps=total_steps,
                resumed_step=run.latest,
            ),
            flush=True,
        )
        if run.latest == total_steps:
            print(f"{workdir}: this run finished at step {total_steps}; nothing left to train")
    if run.latest == total_steps:  # no bar, no compilation: only the report is written again
        manager.close()
        if writer:
            writer.close()
        return progress.results()
    bar = tqdm(
        total=total_steps,
        initial=progress.step,
        unit="step",
        disable=not (chief and config.progress_bar),
        dynamic_ncols=True,
    )
    start = time.perf_counter()
    train_step = parallel.compile_ahead(
        run.train_step,
        state=state,
        mesh=mesh,
        batch_size=recipe.batch_size,
        image_size=tuple(config.image_size),
        accum_steps=recipe.grad_accum_steps,
    )
    progress.compile_seconds += time.perf_counter() - start
    window = Window(first_step=progress.step + 1)
    step = progress.step
    try:
        for step in range(progress.step + 1, total_steps + 1):
            state, metrics = train_step(state, next(run.train_iter))
            window.metrics.append(metrics)
            bar.update()
            epoch_end = step % steps_per_epoch == 0
            every = config.checkpoint_every_steps
            checkpoint_due = epoch_end or (every and step % every == 0)
            logs = {}
            if checkpoint_due or step % config.log_every_steps == 0:
                logs["train"] = close_window(
                    run=run, window=window, step=step, batch_size=recipe.batch_size
                )
                bar.set_postfix(
                    loss=f"{logs['train']['loss']:.4f}",
                    img_s=f"{logs['train']['images_per_second']:.1f}",
                )
                window = Window(first_step=step + 1)
            every = config.eval_every_steps
            if epoch_end or (every and step % every == 0):
                logs["validation"] = evaluator(split="validation", variables=state.variables)
            if epoch_end:
                progress.end_epoch(
                    epoch=step // steps_per_epoch,
                    step=step,
                    validation=logs["validation"],
                    learning_rate=logs["train"]["learning_rate"],
                    images=steps_per_epoch * recipe.batch_size,
                )
                if chief:
                    entry = progress.history[-1]
                    bar.write(console.epoch_line(entry=entry, num_epochs=config.num_epochs))
            if step == total_steps:
                logs["test"] = evaluator(split="test", variables=state.variables)
                progress.final_splits = {s: logs[s] for s in ("validation", "test")}
            if writer:
                for split, split_metrics in logs.items():
                    writer.write(step=step, split=split, metrics=split_metrics)
            if checkpoint_due:
                progress.step = step
                run_checkpoints.save(
                    manager=manager,
                    step=step,
                    state=state,
                    data_iterator=run.train_iter,
                    progress=dataclasses.asdict(progress),
                    val_accuracy=logs["validation"]["accuracy"] if epoch_end else None,
                )
            if "validation" in logs:  # evaluation time is not training time
                window.start = time.perf_counter()
            if on_step:
                on_step(step)
            if interrupts.requested():
                raise KeyboardInterrupt
    except KeyboardInterrupt:
        manager.wait_until_finished()
        resume = manager.latest_step() or 0
        raise Interrupted(
            f"interrupted at step {step} of {total_steps}; run the same command again to resume "
            f"from step {resume}" + (" (its last checkpoint)" if resume else "")
        ) from None
    finally:
        bar.close()
        manager.wait_until_finished()
        manager.close()
        if writer:
            writer.close()
    return progress.results()


def train_and_evaluate(
    *,
    config: ml_collections.ConfigDict,
    workdir: str | Path,
    on_step: Callable[[int], None] | None = None,
) -> dict:
    """Runs one experiment (config.mode 'finetune', 'zeroshot', 'fewshot') into `workdir`;
    returns the results given to vit_jax.reporting.run_report.write_run_report. `on_step(step)`,
    if given, is called after each training step once its checkpoint (if any) has been started."""
    started = datetime.datetime.now(datetime.UTC)
    workdir = Path(workdir)
    exp = experiment.build(config)
    chief = jax.process_index() == 0
    with WorkdirLock(workdir=workdir) if chief else contextlib.nullcontext() as lock:
        if lock and lock.taken_over:
            print(f"{workdir}: took over the lock of a run that is gone ({lock.taken_over})")
        return _run(config=config, exp=exp, workdir=workdir, on_step=on_step, started=started)


def _run(
    *,
    config: ml_collections.ConfigDict,
    exp: experiment.Experiment,
    workdir: Path,
    on_step: Callable[[int], None] | None,
    started: datetime.datetime,
) -> dict:
    mesh = parallel.create_mesh()
    evaluator = Evaluator(config=config, exp=exp, mesh=mesh)
    chief = jax.process_index() == 0
    if config.mode in ("zeroshot", "fewshot"):
        writer = MetricWriter(workdir=workdir) if chief else None
        try:
            results = zeroshot.evaluate_initial(
                config=config,
                exp=exp,
                evaluator=evaluator,
                mesh=mesh,
                writer=writer,
                workdir=workdir,
            )
        finally:
            if writer:
                writer.close()
    else:
        results = _finetune(
            config=config, exp=exp, evaluator=evaluator, mesh=mesh, workdir=workdir, on_step=on_step
        )
    if chief:
        outputs.write_run_outputs(
            config=config, exp=exp, workdir=workdir, results=results, started=started
        )
    return results
