"""Zero-shot and fine-tuning experiments on Shoe vs Sandal vs Boot, the study, and a quick start.

  python main.py --config configs/finetune_vit.py --workdir runs/vit_ft [--config.FIELD=VALUE ...]
  python main.py --config configs/study.py --workdir runs/study
  python main.py --config configs/quickstart.py --workdir runs/quickstart

Each config's docstring gives its preparation commands and expected result; configs/common.py
lists the fields. Started again with the same command, a killed run resumes from its workdir.
"""

import sys

from absl import app, flags, logging
from ml_collections import config_flags

from vit_jax.kernels import runtime
from vit_jax.training import loop, parallel, study
from vit_jax.training.experiment import ConfigError
from vit_jax.training.progress import NonFiniteLossError

_CONFIG = config_flags.DEFINE_config_file("config", None, "experiment config file (configs/*.py)")
_WORKDIR = flags.DEFINE_string("workdir", None, "output directory; a run found there is resumed")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if not flags.FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)
    runtime.apply()
    config = _CONFIG.value
    parallel.initialize_distributed(
        coordinator_address=config.coordinator_address,
        num_processes=config.num_processes,
        process_id=config.process_id,
    )
    try:
        if "cells" in config:
            study.run_study(config=config, workdir=_WORKDIR.value)
        else:
            loop.train_and_evaluate(config=config, workdir=_WORKDIR.value)
    except (ConfigError, FileNotFoundError, NonFiniteLossError) as error:
        sys.exit(f"main.py: {error}")


if __name__ == "__main__":
    app.run(main)
