"""Checkpoints: converted checkpoints (converted.py: Orbax `variables/` plus `metadata.json`,
docs/ARCHITECTURE.md contract 2; `load` is the one way to read them, re-exported here), one
reader per published format (formats/), the conversion itself (convert.py), pre-Linen names
(pre_linen.py), the Orbax checkpoints of a training run (run_checkpoints.py), downloads from the
Hugging Face hub (hub.py) and HTTP / gs:// addresses (remote.py) and the table of named
checkpoints with their conversion on first use (named.py).

May import: common, models.
Imported by: training, inference, analysis, bench; and the commands.
"""

from vit_jax.checkpoints.converted import (
    METADATA_FILE,
    POS_EMBEDDING,
    VARIABLES_DIR,
    LoadedCheckpoint,
    adapt,
    check_output_directory,
    check_present,
    class_token_rows,
    conversion_command,
    create_model,
    grid_cell,
    hand_over_to_jax,
    load,
    resize_position_embedding,
    restore,
    save,
)

__all__ = [
    "METADATA_FILE",
    "POS_EMBEDDING",
    "VARIABLES_DIR",
    "LoadedCheckpoint",
    "adapt",
    "check_output_directory",
    "check_present",
    "conversion_command",
    "create_model",
    "class_token_rows",
    "grid_cell",
    "hand_over_to_jax",
    "load",
    "resize_position_embedding",
    "restore",
    "save",
]
