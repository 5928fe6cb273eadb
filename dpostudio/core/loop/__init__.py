"""Make preference data from the model's own answers, and improve it in rounds (iterative, self-rewarding DPO).

- ``prompts``: where prompts come from (a file, a dataset column, a built-in set), first-N and sampling.
- ``generate``: K answers per prompt from the base or a run's adapter, batched, saved per prompt, resumable.
- ``rank``: rank each prompt's answers with a judge (pairwise in both orders, or pointwise), a ranker plugin (a
  reward model), or the model itself (``self_judge``: the Self-Rewarding 5-point rubric); failures mark a prompt.
- ``pairs``: best-vs-worst or score-gap pairs, and the dataset folder (pairs, candidates, rankings, card).
- ``dataset_job``: all of that in one resumable job folder (``dpostudio generate``).
- ``loop_spec`` / ``rounds`` / ``winrate`` / ``table``: the loop (``dpostudio iterate``).
- ``events``: the event vocabulary every step reports through; ``records``: the JSONL/JSON files.

No Qt here, and nothing heavy at import: torch loads when a model does. The app runs these functions in a child
process and relays their events; every long call takes ``on_event`` and ``cancel`` (a ``threading.Event``).
"""

from dpostudio.core.loop.dataset_job import GenerateJob, JobError, create_job, job_status, run_job
from dpostudio.core.loop.generate import GenerateError, Generator, Sampling, generate_candidates
from dpostudio.core.loop.loop_spec import Loop, LoopError, LoopSpec, list_loops, open_loop
from dpostudio.core.loop.pairs import PairError, PairSettings, build_pairs, write_dataset
from dpostudio.core.loop.prompts import PromptError, PromptSource, builtin_prompt_sets, load_prompts
from dpostudio.core.loop.rank import RankError, RankSettings, rank_candidates
from dpostudio.core.loop.rounds import create_loop, run_loop
from dpostudio.core.loop.table import format_table, loop_table

__all__ = [
    "GenerateError",
    "GenerateJob",
    "Generator",
    "JobError",
    "Loop",
    "LoopError",
    "LoopSpec",
    "PairError",
    "PairSettings",
    "PromptError",
    "PromptSource",
    "RankError",
    "RankSettings",
    "Sampling",
    "build_pairs",
    "builtin_prompt_sets",
    "create_job",
    "create_loop",
    "format_table",
    "generate_candidates",
    "job_status",
    "list_loops",
    "load_prompts",
    "loop_table",
    "open_loop",
    "rank_candidates",
    "run_job",
    "run_loop",
    "write_dataset",
]
