"""Online experiments before going online: the generator's behaviour model as a simulator, a simulated A/B
test and a Thompson-sampling bandit between models, and the offline-vs-online agreement check.

    from recsys.data import load_dataset
    from recsys.models import make_model
    from recsys.simulation import Arm, run_abtest, simulator_for_folder
    dataset = load_dataset(folder)                 # a folder made by `generate`, e.g. "data/builtin"
    sim = simulator_for_folder(folder, dataset)    # NoSimulatorError for data without a behaviour model
    arms = [Arm("A", make_model("popularity").fit(dataset)), Arm("B", make_model("knn").fit(dataset))]
    result = run_abtest(sim, arms, n_learners=1000, sessions=3, seed=0)
    result.summary, result.comparisons, result.sequential, result.stopping()
"""

from __future__ import annotations

from pathlib import Path

from recsys.simulation.abtest import STOPPING_RULE, ABResult, Arm, run_abtest
from recsys.simulation.agreement import agreement, offline_ndcg
from recsys.simulation.arms import arm_names, build_arms
from recsys.simulation.bandit import BanditResult, run_thompson
from recsys.simulation.behaviour import BEHAVIOUR_FILE, BehaviourModel, NoSimulatorError, load_behaviour
from recsys.simulation.simulator import LearnerStates, Population, Simulator, sample_population


def simulator_for_folder(folder, dataset=None, **options) -> Simulator:
    """The simulator of a generated dataset folder, columns aligned with `dataset` when given.

    Raises NoSimulatorError ("no simulator for this dataset: ...") for folders without a behaviour model.
    """
    model = load_behaviour(Path(folder))
    if dataset is not None:
        model = model.aligned_to(dataset.item_ids)
    return Simulator(model, **options)


__all__ = [
    "ABResult",
    "Arm",
    "BEHAVIOUR_FILE",
    "BanditResult",
    "BehaviourModel",
    "LearnerStates",
    "NoSimulatorError",
    "Population",
    "STOPPING_RULE",
    "Simulator",
    "agreement",
    "arm_names",
    "build_arms",
    "load_behaviour",
    "offline_ndcg",
    "run_abtest",
    "run_thompson",
    "sample_population",
    "simulator_for_folder",
]
