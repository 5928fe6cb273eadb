"""The TRL trainer behind each training method other than DPO, with its arguments, imported only when used.

The engine builds TRL's ``DPOConfig`` from the run config for every run (``engine.dpo_arguments``: output folder,
schedule, batch, precision, evaluation, saving, logging). For another method, ``method_trainer`` carries those
training arguments over to that method's own config class and adds the method's settings:

==========  ==========================================  =========================================================
method      TRL trainer / config                        settings from the run config
==========  ==========================================  =========================================================
``orpo``    ``trl.experimental.orpo.ORPOTrainer``       beta (the paper's lambda)
``cpo``     ``trl.experimental.cpo.CPOTrainer``         beta; loss "sigmoid" with TRL's SFT weight (cpo_alpha 1)
``simpo``   ``trl.experimental.cpo.CPOTrainer``         beta, simpo_gamma; loss "simpo", no SFT term (cpo_alpha 0)
``kto``     ``trl.KTOTrainer``                          beta, desirable_weight, undesirable_weight
==========  ==========================================  =========================================================

ORPO, CPO and SimPO have no reference model, so no reference forward pass and no reference cache. KTO's reference is
the base model with the LoRA adapter switched off (TRL's PEFT path); the cache is DPO's and is not used. KTO trains
on unpaired rows, which the data pipeline makes (``core.data.unpaired``) before they get here.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

from dpostudio.core.training.method_choices import get_method


def _trainer_and_config(method: str) -> tuple[type, type, dict[str, Any]]:
    """(trainer class, config class, the method's fixed arguments) for ``method``; imported on demand."""
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # the methods below are a user's informed choice
    if method == "orpo":
        from trl.experimental.orpo import ORPOConfig, ORPOTrainer

        return _dropping_empty_answers(ORPOTrainer), ORPOConfig, {}
    if method in ("cpo", "simpo"):
        from trl.experimental.cpo import CPOConfig, CPOTrainer

        fixed: dict[str, Any] = (
            {"loss_type": "sigmoid"} if method == "cpo" else {"loss_type": "simpo", "cpo_alpha": 0.0}
        )
        return _dropping_empty_answers(CPOTrainer), CPOConfig, fixed
    if method == "kto":
        from trl import KTOConfig, KTOTrainer

        # KTO estimates its KL term from the neighbouring rows of a fixed-order batch: TRL requires sequential
        # sampling (the pipeline shuffled the rows once, by the run's seed).
        return KTOTrainer, KTOConfig, {"loss_type": "kto", "train_sampling_strategy": "sequential"}
    raise ValueError(f"no trainer for method {method!r}")


def _with_answers(dataset: Any) -> Any:
    """``dataset`` (tokenized by ORPO's or CPO's trainer) without the rows whose prompt fills max_length: TRL keeps
    them with no answer token to learn from, which makes their log-probabilities NaN. DPO and KTO drop them."""
    if dataset is None:
        return None
    if isinstance(dataset, dict):
        return type(dataset)({name: _with_answers(part) for name, part in dataset.items()})
    return dataset.filter(
        lambda row: any(t != -100 for t in row["chosen_labels"]) and any(t != -100 for t in row["rejected_labels"])
    )


def _dropping_empty_answers(base: type) -> type:
    """``base`` (ORPOTrainer or CPOTrainer), leaving out the rows truncation leaves without an answer."""

    class Trainer(base):  # type: ignore[valid-type, misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.train_dataset = _with_answers(getattr(self, "train_dataset", None))
            self.eval_dataset = _with_answers(getattr(self, "eval_dataset", None))

    Trainer.__name__ = Trainer.__qualname__ = base.__name__
    return Trainer


def method_settings(config) -> dict[str, Any]:
    """The method's own arguments taken from the run config (beta for all; simpo_gamma; the KTO weights)."""
    settings: dict[str, Any] = {"beta": config.beta, "max_length": config.max_length}
    if config.method == "simpo":
        settings["simpo_gamma"] = config.simpo_gamma
    if config.method == "kto":
        settings["desirable_weight"] = config.desirable_weight
        settings["undesirable_weight"] = config.undesirable_weight
    return settings


def training_arguments(dpo_args, config_class: type) -> dict[str, Any]:
    """The ``transformers.TrainingArguments`` part of ``dpo_args`` (everything that is not DPO's own), as keyword
    arguments for another TRL config class. Transformers supports rebuilding arguments from their resolved values."""
    from transformers import TrainingArguments

    shared = {f.name for f in dataclasses.fields(TrainingArguments) if f.init}
    target = {f.name for f in dataclasses.fields(config_class) if f.init}
    return {name: getattr(dpo_args, name) for name in sorted(shared & target)}


def method_arguments(config, dpo_args):
    """The TRL config of ``config.method``, built from the engine's ``DPOConfig`` and the method's settings."""
    _trainer, config_class, fixed = _trainer_and_config(config.method)
    return config_class(**{**training_arguments(dpo_args, config_class), **method_settings(config), **fixed})


def method_trainer(config, dpo_args, eval_dataset: Any, log: Callable[[str], None] | None = None):
    """``(trainer class, its arguments, eval datasets)`` for a run whose method is not DPO.

    ORPO's and CPO's trainers prepare their eval data with ``Dataset.map``: several eval sets (a plain dict) become a
    ``DatasetDict``, which maps each set and still evaluates each under its own name."""
    trainer_class, _config_class, _fixed = _trainer_and_config(config.method)
    args = method_arguments(config, dpo_args)
    if isinstance(eval_dataset, dict) and config.method != "kto":
        from datasets import DatasetDict

        eval_dataset = DatasetDict(eval_dataset)
    if log is not None:
        method = get_method(config.method)
        reference = "no reference model" if method.reference_free else "reference: the base model (adapter off)"
        log(f"method: {config.method} ({trainer_class.__name__}, {reference})")
    return trainer_class, args, eval_dataset
