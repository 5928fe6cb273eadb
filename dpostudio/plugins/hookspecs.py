"""The one list of DPO Studio hooks (hook API version 1).

A plugin is a module (or object) registered under the entry-point group ``dpostudio``. It declares the hook
API version it targets with a module attribute ``DPOSTUDIO_HOOK_API = 1`` and implements any of the hooks
below with ``@hookimpl`` (from ``dpostudio.plugins``). An implementation may accept fewer arguments than
the spec, never other ones.

Two kinds of hooks:

* listing hooks (``dpostudio_dataset_sources``, ``dpostudio_model_sources``, ``dpostudio_list_models``,
  ``dpostudio_judges``, ``dpostudio_rankers``) are called on every plugin; the host concatenates their lists.
  They must be quick: the host gives them a few seconds and marks a plugin that hangs as failed.
* action hooks (``dpostudio_load_dataset``, ``dpostudio_resolve_model``, ``dpostudio_judge_pair``,
  ``dpostudio_judge_single``, ``dpostudio_rank_candidates``) are ``firstresult``: the host asks the plugins
  one at a time and the first non-None answer wins. A plugin returns None for ids that are not its own. For a
  problem the user can fix (file not found, offline, bad option) raise ``dpostudio.plugins.PluginError`` (or
  the core's ``DataError`` / ``ModelError``): the message is shown as is and the plugin stays active. Any other
  exception marks the plugin failed.

Bump ``HOOK_API_VERSION`` in ``dpostudio/plugins/__init__.py`` whenever a hook here changes incompatibly.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("dpostudio")


# --- dataset sources -------------------------------------------------------------------------------------


@hookspec
def dpostudio_dataset_sources():
    """List the dataset sources this plugin provides.

    Receives: nothing.
    Returns: ``list[DatasetSource]`` (possibly empty); each source id must be unique across plugins.
    Not firstresult: every plugin is asked and the lists are concatenated.
    """


@hookspec(firstresult=True)
def dpostudio_load_dataset(source_id, options):
    """Load the rows of one dataset source.

    Receives: ``source_id`` (a ``DatasetSource.id``), ``options`` (dict: option name -> value, as declared by
    that source's ``SourceOption`` list; missing optional values are absent).
    Returns: ``LoadedDataset``, or None when ``source_id`` is not one of this plugin's sources.
    firstresult: the first non-None result is used.
    """


# --- model sources ---------------------------------------------------------------------------------------


@hookspec
def dpostudio_model_sources():
    """List the model sources this plugin provides (Hub id, local folder, GGUF import, ...).

    Receives: nothing.
    Returns: ``list[ModelSource]`` (possibly empty); each source id must be unique across plugins.
    Not firstresult: every plugin is asked and the lists are concatenated.
    """


@hookspec
def dpostudio_list_models():
    """List models this plugin can offer right now without the user typing anything.

    Receives: nothing. Must not download anything.
    Returns: ``list[ModelEntry]`` (possibly empty), e.g. the embedded default and already imported GGUF files.
    Not firstresult: every plugin is asked and the lists are concatenated.
    """


@hookspec(firstresult=True)
def dpostudio_resolve_model(source_id, options, on_progress):
    """Turn a model source + options into something ``from_pretrained`` can load.

    Receives: ``source_id`` (a ``ModelSource.id``), ``options`` (dict), ``on_progress`` (callable
    ``(fraction 0..1, message)``; call it during long work such as a GGUF import; never None).
    Returns: ``dpostudio.core.model_store.ResolvedModel``, or None when ``source_id`` is not this plugin's.
    firstresult: the first non-None result is used.
    """


# --- judges ----------------------------------------------------------------------------------------------


@hookspec
def dpostudio_judges():
    """List the judges this plugin provides.

    Receives: nothing.
    Returns: ``list[JudgeInfo]`` (possibly empty); each judge id must be unique across plugins.
    Not firstresult: every plugin is asked and the lists are concatenated.
    """


@hookspec(firstresult=True)
def dpostudio_judge_pair(judge_id, prompt, answer_a, answer_b, criteria, options):
    """Compare two answers to one prompt on named criteria.

    Receives: ``judge_id`` (a ``JudgeInfo.id``), ``prompt`` (str), ``answer_a`` and ``answer_b`` (str),
    ``criteria`` (list of criterion names such as ``["coherence", "relevance", "depth"]``), ``options``
    (dict, as declared by the judge's ``SourceOption`` list).
    Returns: ``Verdict`` with a 0-10 score for A and B on every requested criterion, ``winner`` in
    ``"A" | "B" | "tie"`` and ``reasoning``; or None when ``judge_id`` is not this plugin's. A judge that
    cannot reach a verdict raises ``PluginError``; it never makes one up.
    firstresult: the first non-None result is used.
    """


@hookspec(firstresult=True)
def dpostudio_judge_single(judge_id, prompt, answer, criteria, options):
    """Score one answer to one prompt on named criteria.

    Receives: ``judge_id``, ``prompt`` (str), ``answer`` (str), ``criteria`` (list of names), ``options`` (dict).
    Returns: ``ScoreCard`` with a 0-10 score for every requested criterion and ``reasoning``; or None when
    ``judge_id`` is not this plugin's (or the judge does not support the ``single`` mode).
    firstresult: the first non-None result is used.
    """


# --- rankers / reward models -----------------------------------------------------------------------------


@hookspec
def dpostudio_rankers():
    """List the rankers this plugin provides: reward models and rankers that score several answers at once
    (a sequence-classification reward model, PairRM from llm-blender, ...).

    Receives: nothing.
    Returns: ``list[RankerInfo]`` (possibly empty); each ranker id must be unique across plugins.
    Not firstresult: every plugin is asked and the lists are concatenated.
    """


@hookspec(firstresult=True)
def dpostudio_rank_candidates(ranker_id, prompt, candidates, options):
    """Score K candidate answers to one prompt in one call (used to build preference pairs from generated answers).

    Receives: ``ranker_id`` (a ``RankerInfo.id``), ``prompt`` (str), ``candidates`` (list of K >= 2 answer
    strings), ``options`` (dict, as declared by the ranker's ``SourceOption`` list).
    Returns: ``Ranking`` with exactly one finite score per candidate, in the candidates' order (higher is better;
    any scale: a reward model's logit, a win count), or None when ``ranker_id`` is not this plugin's. A ranker
    that cannot score (model missing, bad option) raises ``PluginError``; it never makes scores up.
    firstresult: the first non-None result is used.
    """
