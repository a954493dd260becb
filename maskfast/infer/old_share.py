"""How often the thin >=60 class is called, set without labels: a weight on its probabilities, found on the unlabeled
eval photos, so that a chosen share of them is called >=60 (`predict --old-share`). The model's own arg-max calls that
class at a rate that moves from seed to seed (4-8% of the eval photos on the twin, where 7.4% are >=60), and macro F1
pays for every miss of a class that holds 6 of the 18 cells."""
__all__ = ['DEFAULT_OLD_SHARE', 'parse_old_share', 'training_old_share', 'resolve_old_share', 'old_share_weight', 'call_old_share']

import json
from pathlib import Path
import numpy as np, pandas as pd
from ..data.labels import encode
from ..learn.runs import read_args

OLD = np.array([encode(m, g, 2) for m in range(3) for g in range(2)])   # the six >=60 classes
DEFAULT_OLD_SHARE = '1.5x'  # with the 1 1 3 vote: +0.015 +- 0.009 over the plain vote, 12 of 12 pairs (README, stop 41)

def parse_old_share(value):
    """('fraction', f) for a plain number in [0, 1] (that share of the eval photos), ('times', m) for 'train' (m=1) or
    'Mx' (M times the share of >=60 in the run's training labels), ('off', None) for None or 'off' (the model's own
    arg-max); a clear error otherwise."""
    v = str(value).strip().lower()
    try:
        if value is None or v in ('off', 'none'): return 'off', None
        if v == 'train': return 'times', 1.0
        if v.endswith('x'):
            m = float(v[:-1])
            if np.isfinite(m) and m > 0: return 'times', m
        else:
            f = float(v)
            if 0 <= f <= 1: return 'fraction', f
    except ValueError: pass
    raise ValueError(f"old share must be a fraction of the eval photos in [0, 1] (e.g. 0.07), 'train' (the run's training "
                     f"share of >=60), a multiple of it (e.g. 1.5x) or off; got {value!r}")

def training_old_share(run):
    """Share of the labelled images a run trained on whose person is >=60 (age 60 and over, whatever `--old-from` the fit
    relabelled with): args.yaml's `run: old_share`, or for runs written before it, RUN/balance.csv's >=60 rows (train and
    valid columns) when the run kept the cut at 60."""
    run = Path(run)
    if (run / 'args.yaml').exists():
        share = (read_args(run).get('run') or {}).get('old_share')
        if share is not None: return float(share)
    f, model = run / 'balance.csv', run / 'model.json'
    old_from = json.loads(model.read_text()).get('old_from', 60) if model.exists() else 60
    if not f.exists() or old_from != 60:
        why = f'{f} not found' if not f.exists() else f'{run} relabelled ages from {old_from} and its args.yaml predates run: old_share'
        raise FileNotFoundError(f"{why}: the >=60 share of the training labels is read from the run folder that fit wrote; "
                                f"give --old-share as a fraction instead (e.g. 0.1) or off")
    counts = pd.read_csv(f, index_col=0).sum(axis=1).to_numpy()
    if len(counts) != 18 or counts.sum() <= 0: raise ValueError(f'{f}: expected counts of the 18 classes, got {len(counts)} rows')
    return float(counts[OLD].sum() / counts.sum())

def resolve_old_share(value, runs):
    """The fraction of eval photos to call >=60 (None: off): `value` parsed by `parse_old_share`; multiples of the
    runs' mean training share."""
    kind, v = parse_old_share(value)
    if kind != 'times': return v
    return float(min(1.0, v * np.mean([training_old_share(r) for r in runs])))

def old_share_weight(probs, share):
    """The weight on the six >=60 probabilities that makes about round(share * n) of the n rows' arg-max a >=60 class:
    the geometric midpoint between two neighbouring ratios of a row's best >=60 probability to its best other one.
    Rows with equal ratios (a voted person's photos) move together: the cut nearest to the share is taken."""
    p = np.asarray(probs, np.float64)
    if not len(p): return 1.0
    rest = np.delete(p, OLD, axis=1).max(1)
    logr = np.log(np.maximum(p[:, OLD].max(1), 1e-300)) - np.log(np.maximum(rest, 1e-300))
    u, counts = np.unique(np.round(logr, 9), return_counts=True)
    u, above = u[::-1], np.cumsum(counts[::-1])              # distinct ratios, largest first; rows at or above each
    k = float(share) * len(p)
    cuts = np.concatenate([[0], above])                      # rows called >=60 for each cut: none, then down the ratios
    j = int(np.argmin(np.abs(cuts - k)))                     # the first such cut nearest to the share
    if j == 0: return float(np.exp(-u[0] - np.log(2)))
    if j == len(u): return float(np.exp(-u[-1] + np.log(2)))
    return float(np.exp(-(u[j - 1] + u[j]) / 2))

def call_old_share(probs, share):
    """`probs` (n x 18) with the >=60 classes weighted so that `share` of the rows are called >=60, renormalised (still a
    distribution), and the weight. On person-voted probabilities (mask x gender x age per photo) a row's mask state and
    gender stay its own; only the age group of the rows nearest the >=60 boundary moves."""
    c = old_share_weight(probs, share)
    out = np.asarray(probs, np.float64).copy()
    out[:, OLD] *= c
    return (out / out.sum(1, keepdims=True)).astype(np.asarray(probs).dtype), float(c)
