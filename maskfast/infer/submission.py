"""Submissions: predict the eval set with one model or an ensemble, predict arbitrary images, score against a key."""
__all__ = ['SubmissionError', 'latest_run', 'ensemble_probs', 'predict_eval', 'predict_images', 'check_submission',
           'score_submission', 'decide_photos']

import json, os
from pathlib import Path
import numpy as np, pandas as pd
from .persons import person_consistency, photo_groups, DEFAULT_VOTE_WEIGHTS
from .old_share import OLD, DEFAULT_OLD_SHARE, resolve_old_share, call_old_share
from .predict import predict_cache, vote_runs
from ..data.cache import open_images
from ..data.labels import MASKS, GENDERS, AGES, TASK_NAMES, decode
from ..data.layout import read_eval, IMAGE_EXTS
from ..learn.metrics import macro_f1, task_f1
from ..learn.runs import find_runs, load_model, read_result, run_data, run_crop

class SubmissionError(ValueError):
    "A submission file that cannot be scored; the message says what is wrong."

def latest_run(root='runs'):
    "The newest finished run folder (or k-fold parent) under `root`."
    cands = sorted((p for p in Path(root).glob('*') if (p / 'model.json').exists() or list(p.glob('*/model.json'))),
                   key=os.path.getmtime) if Path(root).exists() else []
    if not cands: raise FileNotFoundError(f'no finished run under {root}/; train one with python -m maskfast.fit or name RUN_DIR')
    return cands[-1]

def _run_weight(run): return read_result(run).get('f1', 1.0)

def run_tasks(runs):
    """The task of each run (from model.json): all 'all', or single-task runs covering mask, gender and age; a mix of
    task runs and full runs, or a missing task, is refused with what to pass instead."""
    tasks = [json.loads((Path(r) / 'model.json').read_text()).get('task', 'all') for r in runs]
    if set(tasks) == {'all'}: return tasks
    full = [str(r) for r, t in zip(runs, tasks) if t == 'all']
    if full: raise ValueError(f'cannot mix single-task runs ({", ".join(sorted(set(tasks) - {"all"}))}) with full runs {full[:3]}: '
                              'predict them separately, or pass only task runs, one or more per task')
    missing = [t for t in TASK_NAMES if t not in tasks]
    if missing: raise ValueError(f'single-task runs combine into the 18 classes only with every task present: no run for {missing}; '
                                 'train it with python -m maskfast.fit --task ' + missing[0])
    return tasks

def ensemble_probs(runs, files, name='eval', tta=1, vote='soft', weighted=False, features=False, progress=False, cache=True,
                   precision='auto'):
    """18-class probabilities of `files` from each run (images per run's size, cached unless `cache=False`), soft or
    hard voted. Single-task runs are voted within their task, then combined as p(mask) p(gender) p(age). `precision`:
    'auto' (bf16 on CPUs that have it, fp16 on CUDA) or 'fp32' (the same numbers every pass; `predict_cache`)."""
    if vote not in ('soft', 'hard'): raise ValueError(f"--vote must be soft or hard, not {vote!r}")
    runs = find_runs(runs)
    tasks = run_tasks(runs)
    probs, caches, feats = [], {}, None
    for run in runs:
        model, cfg = load_model(run)
        key = (tuple(cfg['size']), run_crop(cfg), tuple(cfg.get('face_fallback') or ()))
        if key not in caches: caches[key] = open_images(files, cfg['size'], key[1], name, cache, fallback=cfg.get('face_fallback'))
        p = predict_cache(model, cfg, caches[key], tta=tta, features=features and feats is None, progress=progress,
                          precision=precision)
        if isinstance(p, tuple): p, feats = p
        probs.append(p)
    w = [_run_weight(r) for r in runs] if weighted else [1.0] * len(runs)
    combined = vote_runs(probs, tasks, w, vote)
    return (combined, next(iter(caches.values())), runs) if not features else (combined, next(iter(caches.values())), runs, feats)

def decide_photos(probs, groups, runs, vote_weights=DEFAULT_VOTE_WEIGHTS, old_share=DEFAULT_OLD_SHARE, verbose=True):
    """`predict`'s decision on per-photo eval probabilities (still a distribution per photo): the person vote over
    `groups` (None: no vote), each photo counted by `vote_weights`, then the >=60 classes weighted so that the `old_share`
    of `runs` (`resolve_old_share`) is called >=60. A multiple for runs that recorded no training share (written by
    hand) leaves >=60 to the arg-max, with a notice; `verbose` prints the share reached."""
    if groups is not None: probs = person_consistency(probs, groups, vote_weights)
    try: share = resolve_old_share(old_share, runs)
    except FileNotFoundError as e:   # a run folder written by hand (a notebook's Learner): no record of what it trained on
        print(f'notice: >=60 called by the model\'s own arg-max, not --old-share {old_share}: {e}')
        return probs
    if share is None: return probs
    own = np.isin(probs.argmax(1), OLD).mean()
    probs, c = call_old_share(probs, share)
    if verbose: print(f'old share {old_share}: {np.isin(probs.argmax(1), OLD).mean():.1%} of the eval photos called >=60 (target '
                      f'{share:.1%}; the model\'s own arg-max {own:.1%}; weight {c:.3g} on p(>=60))')
    return probs

def predict_eval(runs, data=None, out='submission.csv', tta=1, vote='soft', weighted=False, consistency=True,
                 min_sim=None, progress=True, return_cache=False, cache=True, group_by='thumbs', precision='auto',
                 vote_weights=DEFAULT_VOTE_WEIGHTS, old_share=DEFAULT_OLD_SHARE):
    """Write `out` (ImageID,ans in eval/info.csv order) from one or more run folders; returns (submission, probs),
    plus the eval images' cache (at the first run's size) and the photo groups (None without `consistency`) with
    `return_cache`.
    `consistency` (on by default) groups photos of one person by appearance (`group_by` thumbnails or model features, linked at
    cosine similarity `min_sim`) and votes gender and age per group, each photo counted by `vote_weights` (worn, incorrect,
    none) of its predicted mask state (default 1 1 3; equal when None). `old_share` (default 1.5x the runs' training
    share; a fraction, 'train' or off: `resolve_old_share`) weighs the >=60 classes so that that share of the photos is
    called >=60 (`decide_photos`). `precision` as `ensemble_probs`."""
    runs = [latest_run()] if not runs else runs
    data = data or run_data(find_runs(runs)[0])
    info = read_eval(data)
    feats = consistency and group_by == 'features'
    probs, images, used, *f = ensemble_probs(runs, info['file'], 'eval', tta, vote, weighted, feats, progress, cache, precision)
    if (~images.ok).any(): print(f'warning: {(~images.ok).sum()} unreadable eval image(s) predicted from zeros: {images.bad[:5]}')
    groups = photo_groups(images, f[0] if f else None, min_sim, cache) if consistency else None
    probs = decide_photos(probs, groups, used, vote_weights, old_share, verbose=bool(out or progress))
    sub = pd.DataFrame({'ImageID': info['ImageID'], 'ans': probs.argmax(1)})
    if out: sub.to_csv(out, index=False); print(f'wrote {out}: {len(sub)} rows from {len(used)} model(s), tta={tta}, vote={vote}'
                     + (f', gender and age voted over {len(set(groups))} photo groups' if consistency else ''))
    return (sub, probs, images, groups) if return_cache else (sub, probs)

def _image_files(paths):
    files, skipped = [], []
    for p in map(Path, paths):
        if p.is_dir(): items = sorted(q for q in p.rglob('*') if q.is_file())
        elif p.exists(): items = [p]
        else: skipped.append((str(p), 'not found')); continue
        for q in items:
            if q.name.startswith('.') or q.suffix.lower() not in IMAGE_EXTS: skipped.append((str(q), 'not an image')); continue
            files.append(q)
    return files, skipped

def predict_images(runs, paths, out='predictions.csv', tta=1, vote='soft', cache=True, precision='auto'):
    """Predict image files/folders: file, class id, mask, gender, age in words, probability. Bad files reported, skipped.
    `precision` as `ensemble_probs`."""
    files, skipped = _image_files(paths)
    rows = []
    if files:
        probs, images, _ = ensemble_probs(runs, files, 'images', tta, vote, cache=cache, precision=precision)
        for why in images.bad: skipped.append((why, 'unreadable'))
        ok = images.ok
        files, probs = [f for f, o in zip(files, ok) if o], probs[ok]
        for f, p in zip(files, probs):
            c = int(p.argmax()); m, g, a = decode(c)
            rows.append((str(f), c, MASKS[m], GENDERS[g], AGES[a], round(float(p[c]) / float(p.sum()), 4)))
    for f, why in skipped: print(f'skipped {f}: {why}')
    df = pd.DataFrame(rows, columns=['file', 'class', 'mask', 'gender', 'age', 'prob'])
    if out: df.to_csv(out, index=False); print(f'wrote {out}: {len(df)} image(s), {len(skipped)} skipped')
    return df

def check_submission(sub, sol):
    "Raise SubmissionError for missing, duplicated or extra ImageIDs or labels outside 0..17."
    if not {'ImageID', 'ans'} <= set(sub.columns): raise SubmissionError('submission needs the columns ImageID,ans')
    dup = sub['ImageID'][sub['ImageID'].duplicated()]
    if len(dup): raise SubmissionError(f'{len(dup)} duplicated ImageID(s), e.g. {list(dup[:3])}')
    missing, extra = set(sol['ImageID']) - set(sub['ImageID']), set(sub['ImageID']) - set(sol['ImageID'])
    if missing: raise SubmissionError(f'{len(missing)} ImageID(s) missing, e.g. {sorted(missing)[:3]}')
    if extra: raise SubmissionError(f'{len(extra)} ImageID(s) not in the answer key, e.g. {sorted(extra)[:3]}')
    ans = pd.to_numeric(sub['ans'], errors='coerce')
    bad = sub['ans'][ans.isna() | (ans < 0) | (ans > 17) | (ans != ans.round())]
    if len(bad): raise SubmissionError(f'{len(bad)} label(s) outside 0..17, e.g. {list(bad[:3])}')

def score_submission(sub, sol):
    "Macro F1 and accuracy for Public, Private and All, plus per-task macro F1 (All). Frames or CSV paths."
    sub = pd.read_csv(sub, dtype={'ImageID': str}) if isinstance(sub, (str, Path)) else sub
    sol = pd.read_csv(sol, dtype={'ImageID': str}) if isinstance(sol, (str, Path)) else sol
    check_submission(sub, sol)
    m = sol.merge(sub[['ImageID', 'ans']].rename(columns={'ans': 'pred'}), on='ImageID')
    m['pred'] = m['pred'].astype(int)
    res = {}
    for usage in ('Public', 'Private', 'All'):
        s = m if usage == 'All' or 'Usage' not in m else m[m['Usage'] == usage]
        if len(s): res[usage] = {'f1': macro_f1(s['ans'], s['pred']), 'acc': float((s['ans'] == s['pred']).mean()), 'n': len(s)}
    res['tasks'] = task_f1(m['ans'], m['pred'])
    return res
