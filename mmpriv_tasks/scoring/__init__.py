"""Pure scoring functions: (response, gold) -> per-sample flags. One implementation, used by
the task YAMLs and by the ``evaluate`` metric modules under ``metrics/``."""
