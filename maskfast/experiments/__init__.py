"""Measurements: the competition lessons as deltas on the twin (`lessons`) the speed benchmark (`bench`) and optuna sweeps (`sweep`)."""
