"""A run configuration can name any dataset-source plugin: ``dataset = "plugin:<source id>?option=value"``."""

import pytest

from dpostudio.core.data.pipeline import DataError, load_splits
from dpostudio.core.training.run_config import RunConfig
from dpostudio.plugins import DatasetSource, LoadedDataset, SourceOption, hookimpl
from dpostudio.plugins.manager import get_manager


class CountingSource:
    """A community-style dataset source that makes N arithmetic pairs."""

    DPOSTUDIO_HOOK_API = 1

    @hookimpl
    def dpostudio_dataset_sources(self):
        return [DatasetSource(id="sums", title="Sums", description="n arithmetic pairs",
                              options=[SourceOption("n", "How many", default="10")])]

    @hookimpl
    def dpostudio_load_dataset(self, source_id, options):
        if source_id != "sums":
            return None
        n = int(options.get("n", 10))
        return LoadedDataset([{"prompt": f"What is {i} + {i}?", "chosen": f"{i} + {i} = {2 * i}.",
                               "rejected": f"No idea, maybe {2 * i + 3}."} for i in range(n)], label="sums")


def test_plugin_source_feeds_the_engine_data_path():
    get_manager().register(CountingSource(), "sums-plugin")
    splits = load_splits(RunConfig(dataset="plugin:sums?n=20", eval_ratio=0.25, prompt_template="none"))
    assert len(splits.train) == 15 and len(splits.eval) == 5
    assert splits.train[0]["prompt"].startswith("What is")


def test_unknown_plugin_source_is_a_data_error():
    with pytest.raises(DataError, match="unknown dataset source 'nothing-here'"):
        load_splits(RunConfig(dataset="plugin:nothing-here"))


def test_plugin_model_source_resolves_through_the_model_store(tmp_path):
    import json

    from dpostudio.core.model_store import ModelError, resolve_model
    from dpostudio.plugins import ModelSource

    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))

    class FolderShelf:
        DPOSTUDIO_HOOK_API = 1

        @hookimpl
        def dpostudio_model_sources(self):
            return [ModelSource(id="shelf", title="My shelf")]

        @hookimpl
        def dpostudio_resolve_model(self, source_id, options, on_progress):
            if source_id != "shelf":
                return None
            return resolve_model(str(tmp_path / options.get("name", "")))

    get_manager().register(FolderShelf(), "shelf-plugin")
    resolved = resolve_model("plugin:shelf?name=")
    assert resolved.kind == "folder" and resolved.location == str(tmp_path.resolve())
    assert resolved.spec == "plugin:shelf?name="
    with pytest.raises(ModelError, match="plugin:unknown"):
        resolve_model("plugin:unknown")
