"""A tiny DPO Studio judge: scores answers by keyword overlap, word variety and length.

Everything a plugin needs is here: the hook API version it targets, a listing hook that describes the judge,
and the action hooks that return a ``Verdict`` (two answers) or a ``ScoreCard`` (one answer), returning None
for judge ids that are not ours.
"""

import re

from dpostudio.plugins import JudgeInfo, PluginError, ScoreCard, SourceOption, Verdict, hookimpl

DPOSTUDIO_HOOK_API = 1  # the hook API version this plugin was written for

JUDGE_ID = "keyword"
_STOP = set("a an and are as at be by can do does for from how i in is it me my of on or so that the this to "
            "what when where which who why will with you your".split())


def _words(text):
    return re.findall(r"[a-z0-9']+", text.lower())


def _score(prompt, answer, criterion, keywords):
    words = _words(answer)
    if not words:
        return 0.0
    if criterion == "coherence":  # variety of vocabulary: repeated filler scores low
        return round(10 * len(set(words)) / len(words), 2)
    if criterion == "depth":  # longer answers (up to ~150 words) score higher
        return round(min(10.0, len(words) / 15), 2)
    wanted = {w for w in _words(prompt) if w not in _STOP and len(w) > 2} | set(keywords)
    if not wanted:  # relevance and any other criterion: share of wanted words the answer mentions
        return 5.0
    return round(10 * len(wanted & set(words)) / len(wanted), 2)


def _keywords(options):
    raw = options.get("keywords") or ""
    if not isinstance(raw, str):
        raise PluginError("keywords must be text, e.g. 'paris, france'")
    return [k.strip().lower() for k in raw.split(",") if k.strip()]


@hookimpl
def dpostudio_judges():
    return [JudgeInfo(
        id=JUDGE_ID, title="Keyword overlap",
        description="Relevance = prompt words the answer mentions; coherence = word variety; depth = length.",
        modes=["pairwise", "single"],
        options=[SourceOption("keywords", "Extra keywords", help="comma-separated words an answer should mention")],
    )]


@hookimpl
def dpostudio_judge_pair(judge_id, prompt, answer_a, answer_b, criteria, options):
    if judge_id != JUDGE_ID:
        return None  # not ours: let another plugin answer
    keywords = _keywords(options)
    scores = {c: {"A": _score(prompt, answer_a, c, keywords), "B": _score(prompt, answer_b, c, keywords)}
              for c in criteria}
    total_a = sum(s["A"] for s in scores.values())
    total_b = sum(s["B"] for s in scores.values())
    winner = "tie" if abs(total_a - total_b) < 0.5 else ("A" if total_a > total_b else "B")
    return Verdict(winner=winner, scores=scores, method="keywords",
                   reasoning=f"keyword/variety/length totals: A {total_a:.1f}, B {total_b:.1f}")


@hookimpl
def dpostudio_judge_single(judge_id, prompt, answer, criteria, options):
    if judge_id != JUDGE_ID:
        return None
    keywords = _keywords(options)
    scores = {c: _score(prompt, answer, c, keywords) for c in criteria}
    return ScoreCard(scores=scores, method="keywords", reasoning="keyword overlap, word variety and length")
