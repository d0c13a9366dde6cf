"""Results: classification metrics through scikit-learn (metrics.py), ImageNet-1k footwear
pooling for zero-shot heads (footwear.py), the metric writer (writer.py: metrics.jsonl and
TensorBoard), the results.json schema (results.py, docs/ARCHITECTURE.md contract 4), plots
(plots.py), and the run and study reports (run_report.py, study_report.py).

May import: vit_jax.data (class names). Imported by: training, inference, analysis and the
fewshot command.
"""
