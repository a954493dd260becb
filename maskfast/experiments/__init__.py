"""Measurements: the competition lessons as deltas on the twin (`lessons`) and the speed benchmark (`bench`)."""
