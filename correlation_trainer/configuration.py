"""Building an :class:`ExperimentConfig` from the settings a user gave, with every other setting at
its default: the search space's (``SearchSpace.default_settings``) for the per-space ones, the
predictor's for its declared options and its source size, :class:`ExperimentConfig`'s otherwise.

``main.py`` builds its configuration from its flags here, and so does the Python API
(:mod:`correlation_trainer.api`), so both mean the same by "the defaults".
"""
from __future__ import annotations

import argparse
import dataclasses
from typing import Any, Dict

from nas_embedding_suite.errors import NasflatError
from nas_embedding_suite.spaces import space_class

from .experiment import ExperimentConfig
from .predictors import PREDICTORS
from .predictors.base import predictor_options

#: settings whose default depends on the search space
PER_SPACE = ("transfer_lr", "transfer_epochs", "transfer_batch_size", "sampling_metric")
CONFIG_FIELDS = frozenset(f.name for f in dataclasses.fields(ExperimentConfig))


def setting_names() -> frozenset:
    """Every name :func:`build_config` accepts: the config's fields and the predictors' options."""
    return CONFIG_FIELDS | frozenset(predictor_options())


def default_source_sizes(predictor: str, space: str):
    """Source archs per device: the predictor's own default for ``space``, else the space's."""
    cls = space_class(space)
    own = PREDICTORS.get(predictor).default_source_size(cls)
    return [own] if own is not None else list(cls.default_settings["sample_sizes"])


def build_config(predictor: str = "nasflat", space: str = "nb201", task_index: int = 0,
                 **settings: Any) -> ExperimentConfig:
    """The configuration of ``predictor`` on ``space`` (task ``task_index``) with ``settings``
    (names as the trainer's flags; ``None`` means the default) and every other setting at its
    default. Options of other predictors are refused, as on the command line."""
    unknown = sorted(set(settings) - setting_names() - {"predictor", "space", "task_index"})
    if unknown:
        raise NasflatError(f"unknown setting(s) {', '.join(unknown)}; valid: {', '.join(sorted(setting_names()))}")
    PREDICTORS.get(predictor)  # an unknown name lists the valid ones
    defaults = space_class(space).default_settings
    given: Dict[str, Any] = {name: value for name, value in settings.items() if value is not None}
    declared = predictor_options()
    for name in given:
        if name in declared and predictor not in declared[name][1]:
            raise NasflatError(f"--{name} is an option of --predictor {', '.join(declared[name][1])}; "
                               f"--predictor {predictor} does not read it")
    values: Dict[str, Any] = {name: value for name, value in given.items() if name not in declared}
    for name in PER_SPACE:
        values.setdefault(name, defaults[name])
    values["transfer_batch_size"] = values["transfer_batch_size"] or None
    values.setdefault("sample_sizes", default_source_sizes(predictor, space))
    extra = []
    for name, (option, readers) in declared.items():
        value = given.get(name)
        if value is None:
            value = defaults[name] if option.space_default else option.default
        value = tuple(value) if isinstance(value, list) else value
        if name in CONFIG_FIELDS:
            values[name] = value
        elif predictor in readers:
            extra.append((name, value))
    for name in ("sample_sizes", "transfer_sample_sizes"):
        if name in values:
            values[name] = tuple(values[name])
    # every baseline draws the k samples that NASFLAT's default run draws (same seeds)
    values["sample_seed_size"] = None if predictor == "nasflat" else defaults["sample_sizes"][0]
    return ExperimentConfig(predictor=predictor, space=space, task_index=task_index,
                            predictor_options=tuple(sorted(extra)), **values)


def add_predictor_options(parser: argparse.ArgumentParser) -> None:
    """One flag per option the registered predictors declare (``FewShotPredictor.options``); its
    help names the predictors that read it. Defaults are filled in by :func:`build_config`, so that
    a flag given to a predictor that does not read it can be told from one left out."""
    group = parser.add_argument_group("options of some predictors only")
    for name, (option, readers) in predictor_options().items():
        kwargs = {"default": argparse.SUPPRESS, "help": f"{option.help} [--predictor {', '.join(readers)}]"}
        if option.boolean:
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs.update({key: value for key, value in (("type", option.type), ("nargs", option.nargs),
                                                         ("choices", option.choices)) if value is not None})
        if not option.space_default and not option.boolean:
            kwargs["help"] += f" (default: {_shown(option.default)})"
        elif option.boolean:
            kwargs["help"] += f" (default: {'on' if option.default else 'off'})"
        group.add_argument(f"--{name}", **kwargs)


def _shown(value) -> str:
    return " ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
