"""Datasets: the in-memory `Dataset`, the IBM-format loader and the built-in dataset generator."""

from recsys.data.dataset import LEVELS, Dataset
from recsys.data.errors import DatasetError

GENRES = (
    "Database",
    "Python",
    "CloudComputing",
    "DataAnalysis",
    "Containers",
    "MachineLearning",
    "ComputerVision",
    "DataScience",
    "BigData",
    "Chatbot",
    "R",
    "BackendDev",
    "FrontendDev",
    "Blockchain",
)


def load_dataset(path, **kwargs) -> Dataset:
    """Read an IBM-format folder (see `recsys.data.loader`)."""
    from recsys.data.loader import load_dataset as _load

    return _load(path, **kwargs)


def generate_dataset(out_dir, **kwargs):
    """Write a synthetic IBM-format dataset (see `recsys.data.generator`)."""
    from recsys.data.generator import generate_dataset as _generate

    return _generate(out_dir, **kwargs)


__all__ = ["Dataset", "DatasetError", "GENRES", "LEVELS", "load_dataset", "generate_dataset"]
