"""The mark a scenario run puts on what it starts, so that a run killed with SIGKILL can be cleaned up by the
next one (harness/scenario/run_lock.py): an environment variable that its processes inherit, and a label on
its containers. Lab provisioning runs without it: the lab outlives runs."""

RUN_MARK = "VLBI_HARNESS_RUN"
"""The environment variable naming the run that started a process."""
RUN_LABEL = "vlbi-harness-run"
"""The container label that carries it."""
