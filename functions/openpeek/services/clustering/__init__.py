"""Clustering, one bounded context: cluster definitions (clusters), executing one (runs), the job's steps around the
engine (steps), the status ledger of task, execution and cluster (ledger), LLM labels (labeling), and reading the
results back (results)."""
