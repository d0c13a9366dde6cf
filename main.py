"""Zero-shot and fine-tuning experiments on Shoe vs Sandal vs Boot, the study, and a quick start.

  python main.py --config configs/finetune_vit.py --workdir runs/vit_ft [--config.FIELD=VALUE ...]
  python main.py --config configs/study.py --workdir runs/study
  python main.py --config configs/quickstart.py --workdir runs/quickstart

Each config's docstring gives its preparation commands and expected result; configs/common.py
lists the fields. Started again with the same command, a killed run resumes from its workdir.
Every failure a user can cause ends in one line `main.py: error: ...` (--debug shows the
traceback).
"""

import difflib
import importlib.util
import signal
import sys
from pathlib import Path

from absl import app, flags, logging
from ml_collections import config_flags

from vit_jax.common.errors import debug_requested, fail, run_command
from vit_jax.kernels import runtime
from vit_jax.training import loop, parallel, study

_CONFIG = config_flags.DEFINE_config_file("config", None, "experiment config file (configs/*.py)")
_WORKDIR = flags.DEFINE_string("workdir", None, "output directory; a run found there is resumed")
_DEBUG = flags.DEFINE_bool("debug", False, "show the traceback of a failure")
flags.mark_flags_as_required(["config", "workdir"])


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _experiment() -> None:
    config = _CONFIG.value
    if not _WORKDIR.value.strip():
        raise ValueError("--workdir is empty; give the folder the run writes into")
    parallel.initialize_distributed(
        coordinator_address=config.coordinator_address,
        num_processes=config.num_processes,
        process_id=config.process_id,
    )
    if "cells" in config:
        study.run_study(config=config, workdir=_WORKDIR.value)
    else:
        loop.train_and_evaluate(config=config, workdir=_WORKDIR.value)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if not flags.FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)
    signal.signal(signal.SIGTERM, _interrupt)
    runtime.apply()
    sys.exit(run_command("main.py", _experiment, debug=_DEBUG.value))


def _parse_flags(argv: list[str]) -> list[str]:
    """absl's flag parsing, with every bad flag or --config override as one line."""
    for path in _config_paths(argv):
        if not Path(path).is_file():
            sys.exit(fail("main.py", f"config file {path} not found (see configs/*.py)"))
    try:
        return flags.FLAGS(argv)
    except flags.Error as error:
        sys.exit(fail("main.py", str(error)))
    except (AttributeError, KeyError, TypeError, ValueError) as error:  # from --config.X=V
        if debug_requested(flag="--debug" in argv):
            raise
        sys.exit(fail("main.py", _override_error(error, argv)))


def _override_error(error: Exception, argv: list[str]) -> str:
    """A bad --config.FIELD=VALUE as one message, naming the closest fields of an unknown one."""
    text = " ".join(str(error).strip("'\"").replace("\\n", " ").replace("\\'", "'").split())
    fields = _config_fields(argv)
    asked = [arg.split("=")[0].removeprefix("--config.") for arg in argv if "--config." in arg]
    unknown = [field for field in asked if fields and field not in fields]
    if not unknown:
        return f"bad --config override: {text}"
    close = difflib.get_close_matches(unknown[0], fields, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else "; configs/common.py lists them"
    return f"the config has no field {unknown[0]!r} (--config.{unknown[0]}){hint}"


def _config_paths(argv: list[str]) -> list[str]:
    """The config file named by --config=PATH or --config PATH (without a ':arguments' tail)."""
    paths = [a.split("=", 1)[1] for a in argv if a.startswith("--config=")]
    paths += [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--config"]
    return [path.split(":")[0] for path in paths]


def _config_fields(argv: list[str]) -> list[str]:
    """Every dotted field of the config file named by --config (empty if it does not load)."""
    paths = _config_paths(argv)
    if not paths:
        return []
    try:
        spec = importlib.util.spec_from_file_location("config_file", paths[0])
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        tree = module.get_config().to_dict()
    except Exception:  # the file's own error is reported by absl's parsing instead
        return []
    return list(_flatten(tree))


def _flatten(tree: dict, prefix: str = ""):
    for key, value in tree.items():
        yield prefix + key
        if isinstance(value, dict):
            yield from _flatten(value, prefix=f"{prefix}{key}.")


if __name__ == "__main__":
    app.run(main, flags_parser=_parse_flags)
