"""The preference losses: the plain-words table against what the installed TRL accepts, the loss_type / loss_weights
fields (parsing, messages, round trips through files and the CLI), and what the engine hands to TRL's DPOConfig."""

import ast
import importlib.util
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from dpostudio.core.training.losses import (
    COMBINATIONS,
    LABEL_SMOOTHING_LOSSES,
    LOSS_HELP,
    LOSS_NAMES,
    LOSS_SUGGESTIONS,
    LOSSES,
    describe_loss_type,
    resolved_label_smoothing,
    split_loss_type,
)
from dpostudio.core.training.presets import get_preset
from dpostudio.core.training.run_config import ConfigError, RunConfig

TRL_TRAINER = Path(importlib.util.find_spec("trl").origin).parent / "trainer"  # found without importing trl


def trl_loss_branches() -> set[str]:
    """The names DPOTrainer's loss computation has a branch for (``loss_type == "..."``); any other is an error."""
    tree = ast.parse((TRL_TRAINER / "dpo_trainer.py").read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if (isinstance(node, ast.Compare) and isinstance(node.left, ast.Name) and node.left.id == "loss_type"
                and len(node.ops) == 1 and isinstance(node.ops[0], ast.Eq)
                and isinstance(node.comparators[0], ast.Constant)):
            names.add(node.comparators[0].value)
    return names


def quoted_names(text: str) -> set[str]:
    return set(re.findall(r"'([a-z_]+)'", text))


def test_the_table_covers_exactly_the_losses_the_installed_trl_accepts():
    branches = trl_loss_branches()
    assert len(branches) >= 10, "the AST reading of dpo_trainer.py found too few losses: has TRL moved the code?"
    assert set(LOSS_NAMES) == branches
    # ...and the lists TRL states in words agree: its "Unknown loss type" message and DPOConfig's help
    trainer_source = (TRL_TRAINER / "dpo_trainer.py").read_text(encoding="utf-8")
    unknown = trainer_source[trainer_source.index("Unknown loss type"):]
    unknown = unknown[: unknown.index("]") + 1]
    assert quoted_names(unknown.split("Should be one of", 1)[1]) == set(LOSS_NAMES)
    from trl import DPOConfig

    help_text = DPOConfig.__dataclass_fields__["loss_type"].metadata["help"]
    assert quoted_names(help_text.split("Possible values are:", 1)[1].split(".", 1)[0]) == set(LOSS_NAMES)
    assert DPOConfig.__dataclass_fields__["loss_weights"]  # combinations are weighted by TRL itself


def test_the_settings_the_table_names_exist_in_trl_and_in_the_run_config():
    from trl import DPOConfig

    trl_fields = set(DPOConfig.__dataclass_fields__)
    ours = {f.name for f in RunConfig.field_specs()}
    for loss in LOSSES:
        assert loss.description.strip() and len(loss.description) < 300, loss.name
        for setting in loss.settings:
            assert setting in trl_fields and setting in ours, (loss.name, setting)
    # the losses that read label smoothing are those whose TRL code reads it
    source = (TRL_TRAINER / "dpo_trainer.py").read_text(encoding="utf-8")
    body = source[source.index('if loss_type == "sigmoid"'):source.index("Unknown loss type")]
    branches = re.split(r'loss_type == "([a-z_]+)"', body)[1:]
    reads = {name for name, code in zip(branches[::2], branches[1::2], strict=True) if "label_smoothing" in code}
    assert reads == set(LABEL_SMOOTHING_LOSSES)
    assert {loss.name for loss in LOSSES if "label_smoothing" in loss.settings} == reads


def test_combinations_and_suggestions_use_known_losses():
    for value, (words, weights) in COMBINATIONS.items():
        assert RunConfig(loss_type=value, loss_weights=list(weights)).loss_type == value
        assert words.strip()
    assert set(LOSS_SUGGESTIONS) == set(LOSS_HELP)
    assert describe_loss_type("sigmoid+sft").startswith("sigmoid+sft: RPO")
    assert describe_loss_type("ipo+sft").splitlines()[1].startswith("sft: Supervised")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("sigmoid", "sigmoid"), ("sigmoid+sft", "sigmoid+sft"), (" sigmoid + sft ", "sigmoid+sft"),
     ("sigmoid,sft", "sigmoid+sft"), (["sigmoid", "bco_pair", "sft"], "sigmoid+bco_pair+sft"), ("ipo", "ipo")],
)
def test_loss_type_takes_one_name_or_a_combination(value, expected):
    config = RunConfig.from_dict({"loss_type": value})
    assert config.loss_type == expected
    assert split_loss_type(config.loss_type) == expected.split("+")


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"loss_type": "sigmoidd"}, "loss_type", "did you mean 'sigmoid'"),
        ({"loss_type": "sigmoid+sfft"}, "loss_type", "did you mean 'sft'"),
        ({"loss_type": "dpo"}, "loss_type", "must be one of sigmoid, hinge, ipo"),
        ({"loss_type": "sigmoid+sigmoid"}, "loss_type", "named twice"),
        ({"loss_type": "+"}, "loss_type", "must not be empty"),
        ({"loss_type": 1}, "loss_type", "joined with '+'"),
        ({"loss_weights": [1.0, 1.0]}, "loss_weights", "2 weights for 1 loss (sigmoid)"),
        ({"loss_type": "sigmoid+sft", "loss_weights": [1.0]}, "loss_weights", "1 weight for 2 losses"),
        ({"loss_type": "sigmoid+sft", "loss_weights": [1.0, "x"]}, "loss_weights", "'x' is not a number"),
        ({"loss_type": "sigmoid+sft", "loss_weights": [1.0, -1]}, "loss_weights", "0 or more"),
        ({"loss_type": "sigmoid+sft", "loss_weights": [0, 0]}, "loss_weights", "above 0"),
        ({"loss_weights": 2}, "loss_weights", "list of numbers"),
        ({"loss_type": "exo_pair", "label_smoothing": 0}, "label_smoothing", "above 0 with the exo_pair"),
        ({"loss_type": "robust", "label_smoothing": 0.5}, "label_smoothing", "less than 0.5"),
        ({"label_smoothing": 0.1}, "label_smoothing", "change nothing"),
        ({"discopop_tau": 0}, "discopop_tau", "greater than 0"),
    ],
)
def test_bad_loss_settings_name_the_field_and_what_is_allowed(changes, field, words):
    with pytest.raises(ConfigError) as info:
        RunConfig.from_dict(changes)
    assert info.value.field == field
    assert words in str(info.value)


def test_weights_accept_numbers_written_as_text():
    for text in ("1, 0.5", "[1, 0.5]", ["1", 0.5]):
        assert RunConfig(loss_type="sigmoid+sft", loss_weights=text).loss_weights == [1.0, 0.5]
    assert RunConfig(loss_weights="").loss_weights is None


def test_old_configs_load_and_loss_settings_round_trip(tmp_path):
    old = tmp_path / "old.toml"
    old.write_text('loss_type = "sigmoid"\nbeta = 0.2\n', encoding="utf-8")
    config = RunConfig.load(old)
    assert (config.loss_type, config.loss_weights, config.label_smoothing) == ("sigmoid", None, None)
    old_yaml = tmp_path / "old.yaml"
    old_yaml.write_text("loss_type: ipo\n", encoding="utf-8")
    assert RunConfig.load(old_yaml).loss_type == "ipo"

    rpo = RunConfig(loss_type="sigmoid+sft", loss_weights=[1.0, 0.5])
    robust = RunConfig(loss_type="robust", label_smoothing=0.2, discopop_tau=0.1)
    for config in (rpo, robust, RunConfig()):
        for suffix in (".toml", ".yaml"):
            path = tmp_path / f"run{suffix}"
            config.save(path)
            assert RunConfig.load(path) == config
    rpo.save(tmp_path / "rpo.toml")
    text = (tmp_path / "rpo.toml").read_text(encoding="utf-8")
    assert 'loss_type = "sigmoid+sft"' in text and "loss_weights = [" in text
    RunConfig().save(tmp_path / "d.toml")
    assert "label_smoothing" not in (tmp_path / "d.toml").read_text(encoding="utf-8")  # empty: left out


def test_the_cli_sets_a_combination_with_weights(tmp_path):
    from dpostudio.cli import build_parser
    from dpostudio.cli.train import config_from_args

    args = build_parser().parse_args(["train", "--set", "loss_type=sigmoid+sft", "--set", "loss_weights=[1.0,1.0]"])
    config = config_from_args(args)
    assert (config.loss_type, config.loss_weights) == ("sigmoid+sft", [1.0, 1.0])
    args = build_parser().parse_args(["train", "--loss-type", "sigmoid+sft", "--loss-weights", "1,0.5"])
    assert config_from_args(args).loss_weights == [1.0, 0.5]
    path = tmp_path / "run.yaml"
    path.write_text("loss_type: [sigmoid, sft]\nloss_weights: [1, 2]\n", encoding="utf-8")
    config = config_from_args(build_parser().parse_args(["train", "--config", str(path)]))
    assert (config.loss_type, config.loss_weights) == ("sigmoid+sft", [1.0, 2.0])


def test_the_rpo_preset():
    config = get_preset("RPO").apply({"beta": 0.3})
    assert (config.loss_type, config.loss_weights, config.beta) == ("sigmoid+sft", [1.0, 1.0], 0.3)


def test_label_smoothing_left_empty_takes_the_losss_usual_value():
    assert resolved_label_smoothing(["robust"], None) == 0.1
    assert resolved_label_smoothing(["exo_pair"], None) == 1e-3
    assert resolved_label_smoothing(["sigmoid", "sft"], None) == 0.0
    assert resolved_label_smoothing(["robust"], 0.05) == 0.05


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, (["sigmoid"], None, 0.0, 0.05)),
        ({"loss_type": "sigmoid+sft", "loss_weights": [1.0, 0.5]}, (["sigmoid", "sft"], [1.0, 0.5], 0.0, 0.05)),
        ({"loss_type": "robust"}, (["robust"], None, 0.1, 0.05)),
        ({"loss_type": "discopop", "discopop_tau": 0.2}, (["discopop"], None, 0.0, 0.2)),
    ],
)
def test_the_engine_hands_the_losses_and_weights_to_trl(tmp_path, changes, expected):
    from dpostudio.core.training.engine import dpo_arguments

    run = SimpleNamespace(checkpoints_dir=tmp_path / "checkpoints", path=tmp_path, id="run")
    choice = SimpleNamespace(device="cpu", precision="fp32")
    args = dpo_arguments(RunConfig(**changes), run, choice, has_eval=False)
    assert (args.loss_type, args.loss_weights, args.label_smoothing, args.discopop_tau) == expected
