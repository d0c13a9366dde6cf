"""The commands' --help: every option with its help line and its default, and the examples of
the module docstring kept exactly as written (the docstrings are raw strings, so a trailing
backslash continues an example on the next line as in a shell); argument types the commands
share."""

import argparse


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Raw description and epilog (the examples), '(default: ...)' after each option that has a
    default value; an option whose default is 'not given' says in its help what happens then."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default in (None, False) or "(default" in (action.help or ""):
            return action.help or ""
        return super()._get_help_string(action)


def examples(doc: str) -> str:
    """The epilog of a command: 'examples:' and the second paragraph of its module docstring."""
    return "examples:\n" + doc.split("\n\n")[1]


def words(values: tuple[str, ...] | list[str]) -> str:
    """Choices as a help text shows them: 'a, b or c'."""
    values = list(values)
    return values[0] if len(values) == 1 else ", ".join(values[:-1]) + " or " + values[-1]


def add_checkpoint_arguments(parser: argparse.ArgumentParser, *, what: str = "checkpoint") -> None:
    """--checkpoint (a converted folder, a name, or a file to convert once) and --model."""
    parser.add_argument(
        "--checkpoint",
        required=True,
        help=f"converted or exported {what}, a checkpoint name (docs/checkpoints.md), or with "
        "--model an hf:// address, a URL or a downloaded checkpoint file or folder",
    )
    parser.add_argument(
        "--model",
        help="the model of a --checkpoint not converted yet, e.g. ViT-B_16 (convert_checkpoint "
        "--help lists them); it is converted into $VIT_JAX_CACHE once",
    )


def positive_int(text: str) -> int:
    """An argparse type: a whole number above 0."""
    if not text.isdigit() or int(text) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return int(text)
