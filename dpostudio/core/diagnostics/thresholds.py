"""The numbers behind the diagnostics rules, each with the reason for its value.

Training metrics are measured on one small batch per log, so they are noisy: trends are judged on windows of
logs and on a least-squares trend line whose steepness must stand well clear of the noise (``CLEAR_T``), and no
trend rule speaks before ``MIN_POINTS`` logs. Evaluation metrics are measured on the same held-out pairs every
time, so they are compared eval to eval. Rewards and margins are TRL's (``beta`` times log-probability ratios to
the reference model); log-probabilities are summed over an answer's tokens (nats).
"""

from __future__ import annotations

from typing import Final

# ---- reading noisy series ----------------------------------------------------------------------------
MIN_POINTS: Final = 8  # a trend needs at least 8 training logs: fewer batches say nothing about a direction
MIN_WINDOW: Final = 3  # the smallest window averaged to smooth one batch's luck (first or last logs of a trend)
WINDOW_FRACTION: Final = 0.25  # windows span a quarter of the logs: long runs average more batches per window
CLEAR_T: Final = 3.0  # a trend counts when its slope is 3 standard errors from flat: noise alone rarely gets there
WEAK_T: Final = 2.0  # a side condition (train loss falling under an eval rise, accuracy rising): 2 standard errors
BELOW_REFERENCE: Final = 0.05  # a reward ≤ -0.05 on average is clearly below the starting model, not rounding
FULL_CHECK_POINTS: Final = 200  # past 200 logs the trend rules run on about every 1/200 of the logs (cost, not noise)

# ---- likelihood displacement ---------------------------------------------------------------------------
DISPLACEMENT_MIN_DROP: Final = 5.0  # chosen log-prob down ≥ 5 nats: the chosen answers ≈150× less likely
DISPLACEMENT_MIN_REL_DROP: Final = 0.05  # and ≥ 5 % of its starting size, so long answers need a proportionate fall
# held-out answers are often short (a terse correct answer is 10-20 nats in all), so 5 nats is out of their reach;
# their log-probs are measured on the same pairs every time (no batch noise), so a smaller fall that is a large
# share of the answer counts too
DISPLACEMENT_SHORT_MIN_DROP: Final = 2.0  # ≥ 2 nats: the chosen answers ≈7× less likely
DISPLACEMENT_SHORT_REL_DROP: Final = 0.15  # and ≥ 15 % of their starting size (far beyond rounding or dropout)
MARGIN_MIN_RISE: Final = 0.1  # margins "rise" by ≥ 0.1 (beta × log-ratio): a visible move on the margins chart

# ---- too easy / saturated ---------------------------------------------------------------------------
SATURATED_ACCURACY: Final = 0.99  # reward accuracy at 1.0 (0.99 leaves room for float averaging)
SATURATED_WINDOW: Final = 5  # five logs in a row at 1.0: one lucky small batch is often all correct, five rarely
SATURATED_EARLY_FRACTION: Final = 0.1  # "early" = the perfect streak starts in the first tenth of the run
SATURATED_HOLD: Final = 0.97  # the following logs stay near perfect (≥ 0.97 on average): not a lucky streak
SATURATED_EVAL_ACCURACY: Final = 0.95  # on the eval split (20-40 pairs): at most one in 20 wrong is near perfect
SATURATED_EVAL_EARLY_FRACTION: Final = 0.125  # the first evaluation of a run that evaluates 8 times (eval every 10
# of 80 steps) is the earliest evidence an eval can give; it must be able to speak
SATURATED_EVAL_HOLD: Final = 0.9  # later evaluations stay ≥ 0.9: the pairs stay easy, the model never had to learn

# ---- overfitting ------------------------------------------------------------------------------------
OVERFIT_RISING_EVALS: Final = 2  # eval loss up at 2 evaluations in a row (3 evals): one rise can be a wobble
OVERFIT_MIN_RISE: Final = 0.01  # and up by ≥ 0.01 nats in all from its lowest point: not a rounding-level change
OVERFIT_ACC_GAP: Final = 0.25  # train accuracy ≥ 25 points above eval accuracy: beyond small-batch noise (~±0.1)
OVERFIT_ACC_GAP_BEFORE: Final = 0.125  # and half that gap at the evaluation before: the gap persists, not one eval
ACC_WINDOW: Final = 10  # train accuracy compared with an eval is the mean of the last 10 logs (less batch noise)

# ---- collapse / divergence --------------------------------------------------------------------------
COLLAPSE_LOSS_FLOOR: Final = 0.01  # DPO loss ≤ 0.01 means margins ≥ 4.6 on every pair: nothing is left to learn
COLLAPSE_EARLY_FRACTION: Final = 0.3  # a loss at 0 within the first 30 % of the run is collapse, not convergence
COLLAPSE_FLOOR_WINDOW: Final = 3  # the loss stays at the floor for 3 logs in a row (not one easy batch)
COLLAPSE_MARGIN: Final = 20.0  # margins ≥ 20 mean log-ratios hundreds of nats apart: the policy has run away
GRAD_SPIKE_FACTOR: Final = 10.0  # a gradient norm 10× the run's median: far outside normal batch-to-batch swings
GRAD_SPIKE_HISTORY: Final = 50  # the median is over the last 50 logged gradient norms (follows slow drifts)
GRAD_SPIKE_MIN_HISTORY: Final = 5  # no spike is judged before 5 gradient norms give the median a meaning
GRAD_SPIKE_COUNT: Final = 2  # two spikes make instability; one that the run recovers from is normal

# ---- not learning -----------------------------------------------------------------------------------
NOT_LEARNING_FRACTION: Final = 0.3  # judged only after 30 % of the run: early margins are legitimately ≈ 0
NOT_LEARNING_MARGIN: Final = 0.05  # margins within ±0.05 (≈ 0.5 nats at beta 0.1): the pairs are barely told apart

# ---- loss rising while accuracy rises (explanatory) -------------------------------------------------
LOSS_MIN_RISE: Final = 0.02  # the loss trend rises by ≥ 0.02 nats: a visible climb on the loss chart
ACC_MIN_RISE: Final = 0.05  # while accuracy's trend rises by ≥ 5 points

# ---- updates ----------------------------------------------------------------------------------------
UPDATE_EVERY_FRACTION: Final = 0.05  # a raised finding is re-reported with fresher numbers at most every 5 % of the run
UPDATE_EVERY_STEPS: Final = 20  # ... or every 20 steps when the run's length is unknown
