import pytest

from dpostudio.core.training.run_config import ConfigError, RunConfig, parse_override


def test_defaults_are_valid_and_round_trip_toml_and_yaml(tmp_path):
    config = RunConfig(beta=0.2, lora_target_modules=["q_proj", "v_proj"], first_n=1000, name="recipe")
    for suffix in (".toml", ".yaml"):
        path = tmp_path / f"run{suffix}"
        config.save(path)
        assert RunConfig.load(path) == config


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"beta": 0}, "beta", "greater than 0"),
        ({"beta": "high"}, "beta", "must be a number"),
        ({"learning_rate": -1e-5}, "learning_rate", "greater than 0"),
        ({"loss_type": "sigmoidd"}, "loss_type", "must be one of"),
        ({"per_device_batch_size": 0}, "per_device_batch_size", "at least 1"),
        ({"max_steps": 2.5}, "max_steps", "whole number"),
        ({"eval_ratio": 0.9}, "eval_ratio", "at most 0.5"),
        ({"gradient_checkpointing": "yes"}, "gradient_checkpointing", "true or false"),
        ({"device": "tpu"}, "device", "must be one of"),
        ({"lora_target_modules": []}, "lora_target_modules", "at least one"),
        ({"dataset": "  "}, "dataset", "must not be empty"),
        ({"lerning_rate": 1e-4}, "lerning_rate", "did you mean 'learning_rate'"),
    ],
)
def test_invalid_values_name_the_field(changes, field, words):
    with pytest.raises(ConfigError) as info:
        RunConfig.from_dict(changes)
    assert info.value.field == field
    assert words in str(info.value)


def test_bad_files_are_reported_with_the_path(tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text("beta = = 3\n")
    with pytest.raises(ConfigError, match="broken.toml is not valid TOML"):
        RunConfig.load(broken)
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("beta: 0.2\nwarmup: 10\n")
    with pytest.raises(ConfigError, match="warmup: unknown setting"):
        RunConfig.load(unknown)
    with pytest.raises(ConfigError, match="cannot read"):
        RunConfig.load(tmp_path / "missing.toml")


def test_optional_fields_accept_empty_and_lists_accept_commas():
    config = RunConfig.from_dict({"max_steps": None, "first_n": "", "lora_target_modules": "q_proj, v_proj"})
    assert config.max_steps is None and config.first_n is None
    assert config.lora_target_modules == ["q_proj", "v_proj"]


def test_parse_override_types_values():
    assert parse_override("beta=0.2") == ("beta", 0.2)
    assert parse_override("max-steps=10") == ("max_steps", 10)
    assert parse_override("gradient_checkpointing=true") == ("gradient_checkpointing", True)
    assert parse_override("model=HuggingFaceTB/SmolLM2-135M-Instruct") == ("model", "HuggingFaceTB/SmolLM2-135M-Instruct")
    with pytest.raises(ConfigError):
        parse_override("beta")


def test_every_field_has_help_and_group():
    for spec in RunConfig.field_specs():
        assert spec.metadata["help"].strip(), spec.name
        assert spec.metadata["group"], spec.name


def test_none_round_trips_where_the_default_is_not_none(tmp_path):
    config = RunConfig(eval_steps=None, save_total_limit=None, first_n=None)
    for suffix in (".toml", ".yaml"):
        path = tmp_path / f"run{suffix}"
        config.save(path)
        loaded = RunConfig.load(path)
        assert loaded.eval_steps is None and loaded.save_total_limit is None and loaded.first_n is None


def test_extra_eval_sets_are_validated_named_and_round_trip(tmp_path):
    from dpostudio.core.training.run_config import parse_eval_set

    config = RunConfig(extra_eval_sets=["styled=data/styled.jsonl", "/data/Held-Out.v2.jsonl", "org/ds_name",
                                        "plugin:synth?split=test"])
    assert [parse_eval_set(e) for e in config.extra_eval_sets] == [
        ("styled", "data/styled.jsonl"), ("held_out_v2", "/data/Held-Out.v2.jsonl"), ("ds_name", "org/ds_name"),
        ("synth", "plugin:synth?split=test")]
    for suffix in (".toml", ".yaml"):
        config.save(tmp_path / f"c{suffix}")
        assert RunConfig.load(tmp_path / f"c{suffix}") == config
    key, value = parse_override("extra_eval_sets=a.jsonl,b=/x/b.jsonl")
    assert RunConfig.from_dict({key: value}).extra_eval_sets == ["a.jsonl", "b=/x/b.jsonl"]
    assert RunConfig().extra_eval_sets == []
    for entries, words in ((["Styled=x.jsonl"], "'Styled=x.jsonl': the name 'Styled' must be a short identifier"),
                           (["eval=x.jsonl"], "'eval' is reserved"),
                           (["a=x.jsonl", "a=y.jsonl"], "'a=y.jsonl': the name 'a' is already used"),
                           (["x.jsonl", "x=other.jsonl"], "already used"),
                           (["x="], "'x=': the source is missing"),
                           (["/data/---.jsonl"], "cannot make a short name"),
                           ([""], "empty"),
                           ([3], "must be a list")):
        with pytest.raises(ConfigError, match="extra_eval_sets") as err:
            RunConfig(extra_eval_sets=entries)
        assert words in str(err.value), (entries, str(err.value))
