"""Benchmarks of evs_job_watch against the simulator, each figure beside its reference.

`python -m benchmarks [--quick] [--json PATH]` runs them all and prints one table; see
`benchmarks/README.md` for what each module measures against what, and the results.
"""
