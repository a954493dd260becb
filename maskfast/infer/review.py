"""Label review: rank the people whose given labels the models doubt, from out-of-fold probabilities, with cleanlab.
Gender and age are judged per person (one label for all 7 photos: the photos' task probabilities are pooled), the
incorrect_mask <-> normal swap per photo (a folder's two photos, scored together). Decisions go to a label-fixes CSV
that `fit --label-fixes` reads, appended under a file lock, one line each, never rewritten."""
__all__ = ['REVIEW_KINDS', 'AGE_OF_GROUP', 'oof_predictions', 'rank_label_issues', 'FixesFile']

import fcntl, os, warnings
from pathlib import Path
import numpy as np, pandas as pd
from ..data.labels import GENDERS, AGES, MASKS, decode
from ..learn.runs import read_valid_preds, read_result

REVIEW_KINDS = ('gender', 'age', 'mask_swap')
AGE_OF_GROUP = {0: 25, 1: 45, 2: 60}    # the age a 'set age group' decision writes (60: the >=60 class at any old_from)

def oof_predictions(run):
    """(frame of file, person, true 18-class label, 18 probabilities; whether it covers every training person): from
    a k-fold parent (`fit --fold all`: out-of-fold predictions for every image) or a single run (its validation
    people only)."""
    run = Path(run)
    folds = sorted(p.parent for p in run.glob('*/valid_preds.csv') if _held_out(p.parent))   # not a --full refit
    if not folds and not _held_out(run):
        raise ValueError(f'{run} trained on its validation people (val-as-train, the default of a single-fold fit, or a --full refit): '
                         'its predictions are not out of fold; review a k-fold parent from python -m maskfast.fit --fold all, '
                         'or a run fitted with --no-train-all')
    if folds: parts, complete = [read_valid_preds(f)[0] for f in folds], True
    elif (run / 'valid_preds.csv').exists(): parts, complete = [read_valid_preds(run)[0]], False
    else: raise FileNotFoundError(f'{run} has no valid_preds.csv: train with python -m maskfast.fit --fold all (or name a run folder)')
    df = pd.concat(parts, ignore_index=True)
    if 'p17' not in df: raise ValueError(f'{run}: review needs 18-class runs, not single-task ones')
    return df, complete

def _held_out(run):
    "Whether a run's validation people were held out of its training (result.json's `holdout`; older runs: yes)."
    return read_result(run).get('holdout', True)

def _task_probs(p18):
    "(mask, gender, age) marginal probabilities of 18-class probabilities."
    p = np.asarray(p18).reshape(-1, 3, 2, 3)
    return p.sum((2, 3)), p.sum((1, 3)), p.sum((1, 2))

def _quality(labels, probs):
    "cleanlab's label quality (self-confidence; low = suspicious) and its find_label_issues verdict."
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores
    labels, probs = np.asarray(labels, int), np.asarray(probs, float)
    probs = probs / probs.sum(1, keepdims=True)
    score = get_label_quality_scores(labels, probs)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        try: issue = find_label_issues(labels, probs)
        except (ValueError, IndexError): issue = np.zeros(len(labels), bool)   # too few examples of a class
    return score, issue

def rank_label_issues(oof):
    """One row per (person, kind): folder, kind (gender|age|mask_swap), score (cleanlab's label quality: lower is
    more suspicious), flagged (cleanlab finds a label issue), given, suggestion, most suspicious first. A person's
    photos are pooled by the geometric mean of their task probabilities (7 photos of one face are not 7 independent
    witnesses; their product would make every doubt certain), and the kinds are interleaved by their rank within the
    kind (the 1st gender, age and swap suspects, then the 2nd ...), since the three scores are not on one scale. On
    the full twin (3-fold out-of-fold), the top 58 held 6 of its 29 mislabelled people with product pooling and one
    sort by score (ambiguous ages filled it), 18 with the geometric mean, 21 with the geometric mean interleaved."""
    probs = oof[[f'p{c}' for c in range(18)]].values
    pm, pg, pa = _task_probs(probs)
    m, g, a = decode(oof['true'].values)
    rows = []
    person = oof['person'].astype(str).values
    people, inv = np.unique(person, return_inverse=True)
    for kind, p, lab, names in (('gender', pg, g, GENDERS), ('age', pa, a, AGES)):
        logp = np.zeros((len(people), p.shape[1])); np.add.at(logp, inv, np.log(p + 1e-9))
        logp /= np.bincount(inv)[:, None]                     # the geometric mean of a person's photos
        pp = np.exp(logp - logp.max(1, keepdims=True)); pp /= pp.sum(1, keepdims=True)
        plab = np.zeros(len(people), int); plab[inv] = lab
        score, issue = _quality(plab, pp)
        for i, f in enumerate(people):
            best = int(pp[i].argmax())
            sug = names[best] if best != plab[i] else names[int(np.argsort(pp[i])[-2])]
            rows.append((f, kind, float(score[i]), bool(issue[i]), names[plab[i]], sug))
    sel = np.isin(m, (1, 2))                               # incorrect / normal photos: is the pair swapped?
    if sel.any():
        two = pm[sel][:, 1:] / pm[sel][:, 1:].sum(1, keepdims=True)
        score, issue = _quality(m[sel] - 1, two)
        pair = pd.DataFrame({'folder': person[sel], 'score': score, 'issue': issue}).groupby('folder')
        for f, s in pair:
            rows.append((f, 'mask_swap', float(s.score.mean()), bool(s.issue.all()), f'{MASKS[1]}/{MASKS[2]} as given', 'swap'))
    out = pd.DataFrame(rows, columns=['folder', 'kind', 'score', 'flagged', 'given', 'suggestion'])
    out = out.sort_values(['score', 'kind'], kind='stable')
    order = out.groupby('kind').cumcount()                           # rank within its kind
    return out.iloc[np.lexsort((out['score'].values, order.values))].reset_index(drop=True)

class FixesFile:
    """The label-fixes CSV (`folder,fix,value`; `fit --label-fixes` reads it; 'keep' lines record a person reviewed
    and left as is). Each decision is one line appended under an exclusive lock and flushed to disk, so two browser
    tabs cannot interleave or repeat a person, and nothing decided is ever rewritten."""
    HEADER = 'folder,fix,value\n'
    def __init__(self, path): self.path = Path(path)
    def decided(self):
        "The folders decided so far (in file order)."
        if not self.path.exists(): return []
        df = pd.read_csv(self.path, dtype=str, keep_default_na=False)
        return list(dict.fromkeys(df['folder']))
    def append(self, folder, fixes):
        """Record `fixes` [(fix, value), ...] for `folder` ([('keep', '')] to leave it as is). Returns False, writing
        nothing, when the folder was already decided (in this tab or another)."""
        if ',' in folder or '\n' in folder: raise ValueError(f'folder name {folder!r} cannot go into a CSV line')
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, 'a+') as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                f.seek(0); text = f.read()
                if folder in {line.split(',', 1)[0] for line in text.splitlines()[1:]}: return False
                lines = ('' if text else self.HEADER) + ''.join(f'{folder},{fix},{value}\n' for fix, value in fixes)
                f.write(lines); f.flush(); os.fsync(f.fileno())
                return True
            finally: fcntl.flock(f, fcntl.LOCK_UN)
