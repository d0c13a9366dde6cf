"""Results: classification metrics through scikit-learn (metrics.py), the metric writer
(writer.py: metrics.jsonl and TensorBoard), the results.json schema (results.py,
docs/ARCHITECTURE.md contract 4), plots (plots.py), tables and numbers in Markdown (markdown.py),
and the run and study reports (run_report.py, study_report.py).

May import: common.
Imported by: training, inference; and the fewshot command.
"""
