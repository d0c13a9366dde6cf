"""main.py's command line: absl flag parsing in which every bad flag, missing config file and
bad or unknown --config.FIELD=VALUE ends in one line (an unknown field names the closest ones).
"""

import difflib
import importlib.util
import sys
from pathlib import Path

from absl import flags

from vit_jax.common.errors import debug_requested, fail

HELP = """usage: python main.py --config configs/EXPERIMENT.py [--workdir DIR]
                      [--config.FIELD=VALUE ...] [--print_config] [--debug]

Runs one experiment (fine-tuning, zero-shot, or the whole study) described by a config file.

options:
  --config FILE[:ARG]    experiment config, one of configs/*.py (required); ARG is passed
                         to its get_config, e.g. configs/finetune.py:resnet50
  --workdir DIR          output folder; a run found there is resumed
                         (default: runs/<config file name>[_ARG])
  --config.FIELD=VALUE   override any config field, e.g. --config.num_epochs=1
  --print_config         print the resolved config (all fields, after overrides) and exit
  --debug                show the traceback of a failure instead of one line
  --helpfull             absl's full flag list

The fields and their meaning: vit_jax/training/config_defaults.py; every config's docstring
gives its preparation commands and expected result.

examples:
  python main.py --config configs/quickstart.py
  python main.py --config configs/finetune_vit.py --workdir runs/vit_ft --config.num_epochs=1
  python main.py --config configs/finetune.py:resnet50 --workdir runs/resnet50_ft
  python main.py --config configs/quickstart.py --print_config
"""


def parse_flags(argv: list[str]) -> list[str]:
    """absl's flag parsing, with every bad flag or --config override as one line; --help and
    -h print HELP and exit 0."""
    if {"--help", "-h", "-?", "--helpshort"} & set(argv[1:]):
        print(HELP, end="")
        sys.exit(0)
    for path, arg in _config_specs(argv):
        if not Path(path).is_file():
            sys.exit(fail("main.py", f"config file {path} not found (see configs/*.py)"))
        if problem := _config_file_problem(path, arg):
            if debug_requested(flag="--debug" in argv):
                _load_config(path, arg)
            sys.exit(fail("main.py", f"config file {path}: {problem}"))
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
    hint = (
        f"; did you mean {', '.join(close)}?"
        if close
        else "; vit_jax/training/config_defaults.py lists them"
    )
    return f"the config has no field {unknown[0]!r} (--config.{unknown[0]}){hint}"


def _config_specs(argv: list[str]) -> list[tuple[str, str | None]]:
    """(config file, its ':ARG' tail or None) named by --config=PATH[:ARG] or --config PATH."""
    specs = [a.split("=", 1)[1] for a in argv if a.startswith("--config=")]
    specs += [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--config"]
    return [tuple((spec.split(":", 1) + [None])[:2]) for spec in specs]


def config_name(argv: list[str]) -> str:
    """The run's default name: the config file's stem, with '_ARG' for configs/FILE.py:ARG."""
    path, arg = _config_specs(argv)[0]
    return Path(path).stem + (f"_{arg}" if arg else "")


def _load_config(path: str, arg: str | None = None):
    """The ConfigDict of config file `path` (get_config(arg), or get_config() without one), as
    absl's config_flags makes it."""
    spec = importlib.util.spec_from_file_location("config_file", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config() if arg is None else module.get_config(arg)


def _config_file_problem(path: str, arg: str | None = None) -> str | None:
    """Why config file `path` does not give a config, in one line; None when it does."""
    try:
        _load_config(path, arg)
    except SyntaxError as error:
        return f"{error.msg} at line {error.lineno} (SyntaxError)"
    except AttributeError as error:
        if "get_config" in str(error):
            return "defines no get_config() (configs/*.py show the form)"
        return f"get_config() failed: {type(error).__name__}: {error}"
    except Exception as error:  # whatever the user's file raises, named in one line
        where = error.__traceback__
        while where.tb_next:
            where = where.tb_next
        return (
            f"get_config() failed at line {where.tb_lineno}: {type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else ''}"
        )
    return None


def _config_fields(argv: list[str]) -> list[str]:
    """Every dotted field of the config file named by --config (empty if it does not load)."""
    specs = _config_specs(argv)
    if not specs:
        return []
    try:
        tree = _load_config(*specs[0]).to_dict()
    except Exception:  # the file's own error is reported by _config_file_problem first
        return []
    return list(_flatten(tree))


def _flatten(tree: dict, prefix: str = ""):
    for key, value in tree.items():
        yield prefix + key
        if isinstance(value, dict):
            yield from _flatten(value, prefix=f"{prefix}{key}.")
