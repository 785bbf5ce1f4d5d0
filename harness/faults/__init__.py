"""Faults injected into live runs: the scenario's ``faults:`` timeline, the mechanisms that apply each kind on
the lab's nodes, and what each mechanism's own counters say it did."""
