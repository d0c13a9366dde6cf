"""The commands' --help: every option with its default, and the examples of the module
docstring kept as written."""

import argparse


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Raw description and epilog (the examples), '(default: ...)' after each option."""
