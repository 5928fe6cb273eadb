"""The training methods besides DPO (ORPO, CPO, SimPO, KTO): the table against the installed TRL, the run-config
fields and their messages, the CLI flag, the TRL arguments each method gets, and KTO's unpaired rows (pairs split in
two, native prompt/completion/label files, bad labels reported per row in words). Training runs are in
test_methods_training.py."""

import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from dpostudio.core.data.pipeline import DataError, load_splits
from dpostudio.core.data.unpaired import is_unpaired, parse_label
from dpostudio.core.training.method_choices import METHOD_HELP, METHOD_NAMES, METHODS, get_method
from dpostudio.core.training.run_config import ConfigError, RunConfig

TRL = Path(importlib.util.find_spec("trl").origin).parent  # found without importing trl


# ---- the table and the installed TRL ------------------------------------------------------------------------------
def test_every_method_has_words_and_a_trainer_in_the_installed_trl():
    assert METHOD_NAMES == ("dpo", "orpo", "cpo", "simpo", "kto")
    for method in METHODS:
        assert len(method.description) > 80 and method.description == METHOD_HELP[method.name]
    # where TRL 1.16 keeps them: ORPO and CPO in trl.experimental, KTO promoted to trl itself
    assert (TRL / "experimental" / "orpo" / "orpo_trainer.py").is_file()
    assert (TRL / "experimental" / "cpo" / "cpo_trainer.py").is_file()
    assert (TRL / "trainer" / "kto_trainer.py").is_file()
    # SimPO is CPO's "simpo" loss, reading simpo_gamma (divided by beta) and meant with cpo_alpha 0
    cpo = (TRL / "experimental" / "cpo" / "cpo_trainer.py").read_text(encoding="utf-8")
    assert 'if self.loss_type == "simpo":' in cpo and "self.simpo_gamma / self.beta" in cpo
    assert [m.name for m in METHODS if m.reference_free] == ["orpo", "cpo", "simpo"]
    assert [m.name for m in METHODS if m.unpaired] == ["kto"]


def test_the_metric_names_in_the_table_are_the_ones_the_trainers_write():
    """Each name the table lists for a method appears as a metric key in that trainer's source."""
    sources = {
        "orpo": TRL / "experimental" / "orpo" / "orpo_trainer.py",
        "cpo": TRL / "experimental" / "cpo" / "cpo_trainer.py",
        "simpo": TRL / "experimental" / "cpo" / "cpo_trainer.py",
        "kto": TRL / "trainer" / "kto_trainer.py",
        "dpo": TRL / "trainer" / "dpo_trainer.py",
    }
    for name, path in sources.items():
        text = path.read_text(encoding="utf-8")
        for metric in get_method(name).metrics:
            assert f'{{prefix}}{metric}"]' in text or f'["{metric}"]' in text, (name, metric)
    assert '["rewards/accuracies"]' not in sources["kto"].read_text(encoding="utf-8")  # KTO has no accuracy


# ---- the run-config fields ----------------------------------------------------------------------------------------
def test_method_field_defaults_to_dpo_and_offers_each_method_with_words():
    spec = {f.name: f for f in RunConfig.field_specs()}
    meta = spec["method"].metadata
    assert RunConfig().method == "dpo"
    assert meta["group"] == "DPO" and meta["choices"] == METHOD_NAMES
    assert set(meta["choice_help"]) == set(METHOD_NAMES)
    for name in ("simpo_gamma", "desirable_weight", "undesirable_weight"):
        assert spec[name].metadata["group"] == "DPO" and spec[name].metadata["help"]
    with pytest.raises(ConfigError, match="method: must be one of dpo, orpo, cpo, simpo, kto, not 'ppo'"):
        RunConfig(method="ppo")


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"method": "orpo", "loss_type": "ipo"}, "loss_type", "applies to the dpo method only; the orpo method"),
        ({"method": "simpo", "loss_type": "sigmoid+sft"}, "loss_type", "Leave it at its default (sigmoid)"),
        ({"method": "cpo", "loss_weights": [1.0]}, "loss_weights", "the cpo method has its own loss"),
        ({"method": "kto", "loss_type": "robust"}, "loss_type", "or choose the dpo method"),
        ({"method": "kto", "per_device_batch_size": 1}, "per_device_batch_size", "at least 2 answers per batch"),
        ({"method": "kto", "desirable_weight": 0}, "desirable_weight", "must be greater than 0"),
        ({"method": "simpo", "simpo_gamma": -1}, "simpo_gamma", "must be at least 0"),
    ],
)
def test_settings_a_method_does_not_read_are_refused_in_words(changes, field, words):
    with pytest.raises(ConfigError) as caught:
        RunConfig(**changes)
    assert caught.value.field == field
    assert words in str(caught.value)


def test_method_settings_round_trip_through_a_file_and_the_cli(tmp_path):
    config = RunConfig(method="kto", desirable_weight=1.5, undesirable_weight=0.75, beta=0.2)
    path = tmp_path / "run.toml"
    config.save(path)
    assert 'method = "kto"' in path.read_text(encoding="utf-8")
    assert RunConfig.load(path) == config

    from dpostudio.cli import build_parser
    from dpostudio.cli.train import config_from_args

    args = build_parser().parse_args(["train", "--method", "simpo", "--beta", "2.0", "--simpo-gamma", "1.0"])
    parsed = config_from_args(args)
    assert (parsed.method, parsed.beta, parsed.simpo_gamma) == ("simpo", 2.0, 1.0)
    args = build_parser().parse_args(["train", "--method", "orpo", "--set", "loss_type=ipo"])
    with pytest.raises(ConfigError, match="loss_type: applies to the dpo method only"):
        config_from_args(args)


# ---- the TRL arguments each method gets ---------------------------------------------------------------------------
def _arguments(tmp_path, **changes):
    from dpostudio.core.training.engine import dpo_arguments
    from dpostudio.core.training.methods import method_arguments

    config = RunConfig(max_steps=7, eval_steps=3, learning_rate=3e-4, seed=5, max_length=96, **changes)
    run = SimpleNamespace(checkpoints_dir=tmp_path / "checkpoints", path=tmp_path, id="r")
    dpo = dpo_arguments(config, run, SimpleNamespace(device="cpu", precision="fp32"), has_eval=True)
    return dpo, method_arguments(config, dpo)


@pytest.mark.parametrize("method", ["orpo", "cpo", "simpo", "kto"])
def test_each_method_keeps_the_runs_training_arguments(tmp_path, method):
    dpo, args = _arguments(tmp_path, method=method, beta=0.25)
    assert type(args).__name__ == {"orpo": "ORPOConfig", "cpo": "CPOConfig", "simpo": "CPOConfig", "kto": "KTOConfig"}[
        method
    ]
    for name in ("output_dir", "learning_rate", "max_steps", "eval_steps", "seed", "save_steps", "logging_steps",
                 "per_device_train_batch_size", "lr_scheduler_type", "eval_strategy", "use_cpu", "bf16",
                 "activation_checkpointing", "report_to"):
        assert getattr(args, name) == getattr(dpo, name), name
    assert (args.beta, args.max_length) == (0.25, 96)
    assert args.activation_checkpointing is False  # TRL's own default (True) does not creep in


def test_simpo_cpo_and_kto_get_their_own_settings(tmp_path):
    _, simpo = _arguments(tmp_path, method="simpo", beta=2.0, simpo_gamma=1.2)
    assert (simpo.loss_type, simpo.cpo_alpha, simpo.simpo_gamma, simpo.beta) == ("simpo", 0.0, 1.2, 2.0)
    _, cpo = _arguments(tmp_path, method="cpo")
    assert (cpo.loss_type, cpo.cpo_alpha) == ("sigmoid", 1.0)
    _, kto = _arguments(tmp_path, method="kto", desirable_weight=1.33, undesirable_weight=0.5)
    assert (kto.loss_type, kto.desirable_weight, kto.undesirable_weight) == ("kto", 1.33, 0.5)
    assert kto.train_sampling_strategy == "sequential"  # TRL refuses KTO with a shuffling sampler


# ---- KTO's unpaired rows ------------------------------------------------------------------------------------------
def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def pairs_file(tmp_path, n=10):
    rows = [{"prompt": f"Question {i}?", "chosen": f"Good answer {i}.", "rejected": f"Bad answer {i}."}
            for i in range(n)]
    return write_jsonl(tmp_path / "pairs.jsonl", rows)


def test_pairs_become_one_good_and_one_bad_answer_each_shuffled(tmp_path):
    path = pairs_file(tmp_path)
    splits = load_splits(RunConfig(dataset=str(path), method="kto", prompt_template="none", eval_ratio=0.2))
    assert splits.train.column_names == ["prompt", "completion", "label"]
    train = list(splits.train)
    assert len(train) == 16 and len(splits.eval) == 4  # 8 + 2 pairs, two answers each
    assert sum(r["label"] for r in train) == 8
    for r in train:
        number = r["prompt"].split()[1].rstrip("?")
        assert r["completion"].startswith(("Good" if r["label"] else "Bad") + f" answer {number}.")
    labels = [r["label"] for r in train]
    assert labels != sorted(labels) and labels != sorted(labels, reverse=True)  # mixed, not good-then-bad
    assert any("split into 16 single answers for KTO" in note for note in splits.notes)
    # each unpaired row remembers its source row; the same seed gives the same order
    assert sorted(splits.train_rows) == sorted(2 * [r for r in range(1, 11) if r in splits.train_rows])
    again = load_splits(RunConfig(dataset=str(path), method="kto", prompt_template="none", eval_ratio=0.2))
    assert list(again.train) == train


def test_chat_template_rows_are_conversational_for_kto(tmp_path):
    path = pairs_file(tmp_path, 4)
    splits = load_splits(RunConfig(dataset=str(path), method="kto", eval_ratio=0.0))
    row = splits.train[0]
    assert row["prompt"][-1]["role"] == "user"
    assert row["completion"] == [{"role": "assistant", "content": row["completion"][0]["content"]}]


def test_a_native_unpaired_file_is_read_with_bad_labels_reported_per_row(tmp_path):
    rows = [
        {"prompt": "Say hi.", "completion": "Hi!", "label": True},
        {"prompt": "Say hi.", "completion": "Go away.", "label": False},
        {"prompt": "Count to 2.", "completion": "1, 2.", "label": "yes"},
        {"prompt": "Count to 2.", "completion": "3.", "label": "maybe"},
        {"prompt": "Name a fruit.", "completion": "Apple.", "label": 1},
        {"prompt": "Name a fruit.", "completion": "", "label": 0},
        {"prompt": "Name a fruit.", "completion": "Rock.", "label": None},
    ]
    path = write_jsonl(tmp_path / "thumbs.jsonl", rows)
    splits = load_splits(RunConfig(dataset=str(path), method="kto", prompt_template="none", eval_ratio=0.0))
    assert splits.format == "unpaired"
    assert sorted(splits.train_rows) == [1, 2, 3, 5]
    assert sorted(zip(splits.train["completion"], splits.train["label"])) == [
        ("1, 2.", True), ("Apple.", True), ("Go away.", False), ("Hi!", True)
    ]
    messages = {p.row: p.message() for p in splits.problems}
    assert messages[4] == (
        "thumbs.jsonl, row 4, column 'label': the label is 'maybe', not true or false (thumbs up or down; 1/0, "
        "yes/no and good/bad also work)"
    )
    assert "row 7, column 'label': the label is empty" in messages[7]
    assert "row 6, column 'completion': the completion is empty" in messages[6]
    assert splits.dropped == {"unusable": 2, "empty": 1}
    assert any("3 marked good, 1 marked bad" in note for note in splits.notes)


def test_unpaired_data_without_usable_rows_or_labels_is_refused_in_words(tmp_path):
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"prompt": "p", "completion": "c", "label": "sure"}] * 2)
    with pytest.raises(DataError, match=r"no usable training rows.*row 1: the label is 'sure'"):
        load_splits(RunConfig(dataset=str(bad), method="kto", prompt_template="none", eval_ratio=0.0))
    unlabelled = write_jsonl(tmp_path / "nolabel.jsonl", [{"prompt": "p", "completion": "c"}] * 2)
    with pytest.raises(DataError, match="has a 'completion' column but no 'label' column"):
        load_splits(RunConfig(dataset=str(unlabelled), method="kto", prompt_template="none", eval_ratio=0.0))
    thumbs = write_jsonl(tmp_path / "thumbs.jsonl", [{"prompt": "p", "completion": "c", "label": True}] * 2)
    with pytest.raises(DataError, match=r"single answers marked good or bad .* with the kto method \(--method kto\)"):
        load_splits(RunConfig(dataset=str(thumbs), prompt_template="none", eval_ratio=0.0))  # DPO needs pairs


def test_labels_and_format_detection():
    assert [parse_label(v) for v in (True, False, 1, 0, "TRUE", " no ", "thumbs up", "down", "👍")] == [
        True, False, True, False, True, False, True, False, True
    ]
    for value in (2, "maybe", None, 0.5):
        with pytest.raises(Exception, match="not true or false"):
            parse_label(value)
    assert is_unpaired(["prompt", "completion", "label"])
    assert not is_unpaired(["prompt", "chosen", "rejected", "completion", "label"])
    assert not is_unpaired(["prompt", "completion"])


def test_the_cli_leaves_out_a_metric_the_method_does_not_log():
    import io

    from dpostudio.cli.train import TrainingDisplay, metrics_text

    kto = {"loss": 0.69, "rewards/margins": 0.012, "kl": 0.0}  # KTO logs no reward accuracy
    assert metrics_text(kto) == "loss 0.6900 · margin +0.012"
    assert metrics_text({"eval_loss": 0.5, "eval_rewards/accuracies": 1.0}, "eval_") == "loss 0.5000 · acc 1.00"
    stream = io.StringIO()
    display = TrainingDisplay(stream)
    display({"type": "eval", "step": 2, "epoch": 1.0, "metrics": {"eval_loss": 0.7, "eval_rewards/margins": -0.1}})
    assert stream.getvalue().strip() == "eval @ step 2: loss 0.7000 · margin -0.100"
    assert "nan" not in stream.getvalue()
