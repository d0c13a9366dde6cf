"""What every other subpackage and command may use: files replaced atomically (files.py), JSON
values without NaN tokens (json_values.py), the one-run-per-workdir lock (workdir_lock.py) and
the commands' one-line failures (errors.py) and the cache folder (cache.py).

May import: nothing of vit_jax. Imported by: every subpackage and command.
"""
