"""One trained neural embedding per (training data, network parameters) in this process.

`neural`, `embedding_regression` and `embedding_classifier` all train the same Keras network (the embedding
models build a `NeuralRecommender` with their own embedding parameters and the neural defaults for the rest).
Whichever fits first trains it and registers it here; the others adopt it instead of training a copy. Training
is deterministic for a seed (seeded initialisers and negatives, op determinism), so an adopted embedding has
exactly the weights a fresh fit would give: same numbers, one training. The model store
(`recsys.serving.store.ModelStore`) also registers every neural model it loads from disk, so a saved `neural`
artifact makes the embedding models cheap in a new process too.

A small LRU (the entries hold the learner table of the training data): a long-running app keeps the last few.
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from typing import Any

CAPACITY = 3

_entries: OrderedDict[tuple, Any] = OrderedDict()
_lock = threading.Lock()
_training: dict[tuple, threading.Lock] = {}  # one per network being looked up or trained (a few bytes each)


def identity(dataset_fingerprint: str, model) -> tuple:
    """(fingerprint of the training data, every network parameter coerced to its declared kind)."""
    params = type(model).validate_params(model.get_params())
    return dataset_fingerprint, tuple(sorted(params.items()))


@contextlib.contextmanager
def exclusive(dataset_fingerprint: str, model):
    """Held while a fit looks this network up and, if it is missing, trains it: an identical fit on another
    thread (a comparison runs models side by side) waits, then adopts the result instead of training a copy."""
    key = identity(dataset_fingerprint, model)
    with _lock:
        training = _training.setdefault(key, threading.Lock())
    with training:
        yield


def lookup(dataset_fingerprint: str, model):
    """The fitted neural model trained on that data with `model`'s parameters, or None."""
    key = identity(dataset_fingerprint, model)
    with _lock:
        found = _entries.get(key)
        if found is not None:
            _entries.move_to_end(key)
        return found


def remember(model) -> None:
    """Register a fitted neural model (trained here or loaded from an artifact) for reuse."""
    fingerprint = getattr(model, "fingerprint_", None)
    if fingerprint is None or not hasattr(model, "item_embeddings_"):
        return
    key = identity(fingerprint, model)
    with _lock:
        _entries[key] = model
        _entries.move_to_end(key)
        while len(_entries) > CAPACITY:
            _entries.popitem(last=False)


def clear() -> None:
    """Forget every shared embedding (tests use it to force a fresh training)."""
    with _lock:
        _entries.clear()
