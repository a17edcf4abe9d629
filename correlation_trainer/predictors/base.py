"""The interface every few-shot latency predictor implements, and the ``--predictor`` registry.

An :class:`~correlation_trainer.experiment.Experiment` owns what is common to every method: the
seeds, the shared source-architecture set, the k target samples, the evaluation protocol and the
result files. A predictor only learns: ``pretrain`` on the source devices' latencies of the chosen
source architectures, then ``adapt`` to one target device from its k samples and score the
evaluation architectures. Predictors see tensors and device indices (a
:class:`~correlation_trainer.task_data.TaskData`), never files.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from nas_embedding_suite.registry import Registry

PREDICTORS: Registry = Registry("predictor")


def list_predictors() -> List[str]:
    """Every valid ``--predictor``."""
    return PREDICTORS.names()


def predictor_class(name: str) -> type:
    """The registered predictor class ``name`` (an error lists the valid names)."""
    return PREDICTORS.get(name)


def predictor_options() -> Dict[str, Tuple[PredictorOption, List[str]]]:
    """Every declared option: name -> (its declaration, the predictors that read it), in
    registration order."""
    found: Dict[str, Tuple[PredictorOption, List[str]]] = {}
    for name in PREDICTORS.names():
        for option in PREDICTORS.get(name).options:
            found.setdefault(option.name, (option, []))[1].append(name)
    return found


def display_name(name: str) -> str:
    """How tables name predictor ``name`` (its ``display_name``, else the name itself)."""
    return (PREDICTORS.get(name).display_name or name) if name in PREDICTORS else name


def table_rank(name: str) -> Tuple[int, str]:
    """Sort key of a predictor in comparison tables (unknown names last)."""
    return (PREDICTORS.get(name).table_order if name in PREDICTORS else 10_000, name)


def seeded_generator(seq: np.random.SeedSequence) -> torch.Generator:
    """A torch generator seeded from ``seq`` (its first generated word)."""
    generator = torch.Generator()
    generator.manual_seed(int(seq.generate_state(1, dtype=np.uint64)[0] & 0x7FFFFFFFFFFFFFFF))
    return generator


@dataclass
class Adaptation:
    """What adapting to one target produced.

    ``scores``: predicted scores of the evaluation architectures (higher = slower), one array per
    scored fine-tuning epoch (the paper protocol averages the metrics of the last few epochs;
    methods without epochs give one array). ``hw_source``: the source device whose hardware
    embedding initialised the target's, or "-". ``model_state``: the adapted weights, when asked
    for and when the method has any. ``sample_scores``: the adapted predictor's scores of the k
    samples themselves (what the calibration to milliseconds is fit on), when it gives them.
    """

    scores: List[np.ndarray]
    hw_source: str = "-"
    model_state: Optional[Dict[str, torch.Tensor]] = None
    sample_scores: Optional[np.ndarray] = None

    @classmethod
    def average(cls, members: Sequence["Adaptation"]) -> "Adaptation":
        """The ensemble of ``members`` (adaptations of independently pretrained models to the same
        samples): each member's scores are standardised (zero mean, unit std over the evaluated
        archs, since ranking-loss scores have no common scale), then averaged. The sample scores
        are standardised with the final scores' mean and std so that they stay on the same scale;
        the hardware source is the first member's (every member picks it from the same samples)."""
        def standardise(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
            return (values - reference.mean()) / (reference.std() + 1e-12)

        scores = [np.mean([standardise(m.scores[epoch], m.scores[epoch]) for m in members], axis=0)
                  for epoch in range(len(members[0].scores))]
        sample_scores = None
        if all(m.sample_scores is not None for m in members):
            sample_scores = np.mean([standardise(m.sample_scores, m.scores[-1]) for m in members], axis=0)
        return cls(scores, members[0].hw_source, None, sample_scores)


@dataclass(frozen=True)
class PredictorOption:
    """A command-line option that only some predictors read, declared by each predictor that reads
    it (``FewShotPredictor.options``); ``main.py`` adds one flag ``--<name>`` for it.

    The value reaches the predictor as ``config.<name>`` when :class:`ExperimentConfig` has that
    field (the options that existed before this declaration), else as
    ``config.option("<name>")``. Giving the flag with a predictor that does not declare it is an
    error that names the predictors that do.
    """

    name: str
    default: Any
    help: str
    type: Optional[Callable[[str], Any]] = None
    nargs: Optional[str] = None
    choices: Optional[Sequence[Any]] = None
    #: a --name / --no-name switch
    boolean: bool = False
    #: the default is the search space's (``SearchSpace.default_settings[name]``) instead of ``default``
    space_default: bool = False
    #: the option is in the run key of every predictor, readers or not (options whose result rows
    #: were first written before predictors declared their options keep their keys this way)
    in_every_run_key: bool = False


class FewShotPredictor:
    """Base class: a method that pretrains on source devices and adapts to a target on k samples.

    Subclasses set ``name`` (the ``--predictor`` value) and implement :meth:`pretrain` and
    :meth:`adapt`. ``config`` is the run's ExperimentConfig; a method uses the settings that
    apply to it and states its own fixed settings in :meth:`settings` (recorded in each result row).
    What the command line, the tables and the checkpoints need to know about a predictor are
    class attributes here, not tables elsewhere.
    """

    name = ""
    #: how tables and reports name the method
    display_name = ""
    #: position in comparison tables (smaller first)
    table_order = 100
    #: the options only this method (and others declaring the same) reads
    options: Tuple[PredictorOption, ...] = ()
    #: whether it reads ``--representation`` and ``--graph_mode`` (the graph and encodings)
    reads_representation = False
    #: what a checkpoint of the adapted method holds: "weights" (a state dict per trial),
    #: "linear" (cost-feature coefficients) or None (the method cannot be checkpointed)
    checkpoint_kind: Optional[str] = None
    #: whether the method learns from the source devices (zero-shot references do not train)
    pretrains = True
    #: whether its scores depend on the target's k samples alone (no seed, no source set): trials
    #: on a fixed sample set (a device file's) are then identical and the trainer runs one
    deterministic = False
    #: whether its default source archs per device are the space's ``help_source_size`` (HELP's
    #: meta-training budget, spec section 10) instead of NASFLAT's (``--sample_sizes``)
    help_source_budget = False

    def __init__(self, config, data, torch_device: torch.device):
        self.config = config
        self.data = data
        self.torch_device = torch_device

    @classmethod
    def default_source_size(cls, space) -> Optional[int]:
        """Source archs per device of this method on ``space`` (a SearchSpace class) when it differs
        from the space's ``default_settings["sample_sizes"]``; None when it does not."""
        return space.help_source_size if cls.help_source_budget else None

    def settings(self) -> Dict[str, Any]:
        """The method's own fixed hyperparameters (beyond ExperimentConfig), for the result rows."""
        return {}

    @classmethod
    def reference_archs(cls, space) -> np.ndarray:
        """Architectures of ``space`` (a loaded SearchSpace) the method needs measured on every
        target beyond the k samples (HELP's reference architectures); none for most methods."""
        return np.zeros(0, dtype=np.int64)

    def known_archs(self) -> np.ndarray:
        """This run's :meth:`reference_archs`; the honest evaluation leaves them out too."""
        return self.reference_archs(self.data.space)

    def pretrain_epochs(self) -> int:
        """Progress-bar steps :meth:`pretrain` reports (0 when it does not report)."""
        return 0

    def adapt_epochs(self) -> int:
        """Progress-bar steps each :meth:`adapt` reports."""
        return 0

    def pretrain(self, archs: np.ndarray, seq: np.random.SeedSequence,
                 progress: Callable[[], None]) -> Any:
        """Learn from ``archs`` measured on every source device; returns the pretrained state.

        ``archs`` may be empty (no pretraining). ``seq`` seeds everything random in here.
        """
        raise NotImplementedError

    def adapt(self, state: Any, target: int, archs: np.ndarray, eval_archs: np.ndarray,
              seq: np.random.SeedSequence, scored_epochs: int, keep_model: bool,
              progress: Callable[[], None]) -> Adaptation:
        """Adapt ``state`` to ``target`` from its latencies on ``archs`` and score ``eval_archs``.

        ``scored_epochs``: how many final fine-tuning epochs to score (the protocol's average).
        """
        raise NotImplementedError
