"""recsys: a workbench for comparing course recommenders (data, models, evaluation, CLI)."""

__version__ = "0.1.0"
