"""Zero-shot and fine-tuning experiments on Shoe vs Sandal vs Boot, the study, and a quick start.

  python main.py --config configs/finetune_vit.py --workdir runs/vit_ft [--config.FIELD=VALUE ...]
  python main.py --config configs/study.py --workdir runs/study
  python main.py --config configs/quickstart.py --workdir runs/quickstart

Each config's docstring gives its preparation commands and expected result;
vit_jax/training/config_defaults.py lists the fields. Started again with the same command, a killed
run resumes from its workdir.
Every failure a user can cause ends in one line `main.py: error: ...` (--debug shows the
traceback).
"""

import sys
from pathlib import Path

from absl import app, flags, logging
from ml_collections import config_flags

from vit_jax.common import interrupts
from vit_jax.common.errors import full_disk_named, run_command
from vit_jax.training.command_line import config_name, parse_flags

_CONFIG = config_flags.DEFINE_config_file("config", None, "experiment config file (configs/*.py)")
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "output directory (default runs/<config file name>); a run there is resumed"
)
_DEBUG = flags.DEFINE_bool("debug", False, "show the traceback of a failure")
_PRINT_CONFIG = flags.DEFINE_bool("print_config", False, "print the resolved config and exit")
_PRINT_MEMORY = flags.DEFINE_bool(
    "print_memory", False, "print the train step's memory per device and exit (trains nothing)"
)
flags.mark_flags_as_required(["config"])


def _experiment() -> None:
    config = _CONFIG.value
    if _PRINT_CONFIG.value:
        print(config)
        return
    workdir = _WORKDIR.value
    if workdir is None and not _PRINT_MEMORY.value:
        workdir = str(Path("runs") / config_name(sys.argv))
        print(f"workdir: {workdir} (give --workdir to choose another)")
    if workdir is not None and not workdir.strip():
        raise ValueError("--workdir is empty; give the folder the run writes into")
    from vit_jax.common import runtime

    runtime.apply()  # before JAX starts: the config checks count the devices
    from vit_jax.training import config_checks  # JAX and the model registry only

    for cell in config.cells.values() if "cells" in config else [config]:
        config_checks.check_values(cell)
    from vit_jax.training import loop, parallel, study  # the training code, once the config holds

    parallel.initialize_distributed(
        coordinator_address=config.coordinator_address,
        num_processes=config.num_processes,
        process_id=config.process_id,
    )
    if _PRINT_MEMORY.value:
        from vit_jax.training import memory

        for name, cell in config.cells.items() if "cells" in config else [("", config)]:
            print(f"{name}: " * bool(name) + memory.report(cell))
        return
    with full_disk_named(workdir):  # the checkpoint library reports a full disk as text
        if "cells" in config:
            study.run_study(config=config, workdir=workdir)
        else:
            loop.train_and_evaluate(config=config, workdir=workdir)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if not flags.FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)
    interrupts.install()
    sys.exit(run_command("main.py", _experiment, debug=_DEBUG.value))


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
