"""Algorithms of the benchmark: heuristics, TopoFreeRL and the baselines, one shared trainer."""
