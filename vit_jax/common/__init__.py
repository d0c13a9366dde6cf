"""What every other subpackage and command may use: files replaced atomically (files.py), folders
written whole (staged_folder.py), JSON values without NaN tokens (json_values.py), the
one-run-per-workdir lock (workdir_lock.py), the commands' one-line failures (errors.py), the
cache folder (cache.py), Ctrl-C and SIGTERM (interrupts.py), --help formatting (help.py) and the
process settings applied before JAX starts (runtime.py: XLA flags, the C allocator on CPU).

May import: nothing of vit_jax.
Imported by: data, checkpoints, reporting, training, inference, analysis, bench; and the commands.
"""
