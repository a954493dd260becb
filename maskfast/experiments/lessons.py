"""The competition lessons as measured deltas: each variant trained on the same twin and budget for several seeds,
scored on the twin's eval answer key, reported as mean and spread; a lesson counts only when its mean delta exceeds
the seeds' spread. Every finished (lesson, seed) is kept in OUT/runs.jsonl, so a long measurement continues."""
__all__ = ['LESSONS', 'PREDICT_LESSONS', 'run_lessons', 'lessons_table', 'plot_lessons']

import json
from pathlib import Path
import numpy as np, pandas as pd
from ..infer.persons import grouping_ari
from ..infer.submission import predict_eval, score_submission
from ..learn.train import fit_run

# name -> fit options changed from the baseline (the default recipe). Measured at fixed epochs (what the default's
# budget plan gives on a quiet machine), so that other work on the machine cannot change a run; a lesson that
# changes the cost of an epoch gets the epochs that keep its time about equal ('epochs_scale' of the baseline's).
LESSONS = {
    'baseline (the default recipe)': {},
    'face-centred crop': {'crop': 'face'},
    'same-label CutMix p 0.7': {'cutmix': 0.7},
    'mixup among >=60, p 0.5': {'mixup_old': 0.5},
    'ordinal age head': {'age_head': 'ordinal'},
    'boundary drop 28-29, 57-59': {'drop_boundary': True},
    'boundary ages out of the age loss only': {'skip_boundary_age': True},
    'old from 58': {'old_from': 58},
    'val-as-train (--full), same time': {'full': True, 'epochs_scale': 0.45},
    'regression age head': {'age_head': 'regression'},
    'batch size 64': {'bs': 64},
    'lr 1e-2 (default: lr_find, floored at 3e-3)': {'lr': 1e-2},
    'person-level loss off (default: weight 1 on the age group, batches of whole people)': {'person_loss': 0.0},
    'person-level loss on gender and age': {'person_loss_on': 'gender+age'},
    'soft age targets off (default: --age-sigma 3)': {'age_sigma': 0.0},
    'soft age targets at --age-sigma 6 (default: 3)': {'age_sigma': 6.0},
}
# name -> predict options changed, applied to each seed's baseline model (no training)
PREDICT_LESSONS = {
    'TTA off': {'tta': 0},
    'person consistency off (default: on, thumbnail groups)': {'consistency': False},
    'person consistency by model-feature groups': {'group_by': 'features'},
    'person vote with equal weights (default: 1 1 3 by mask state)': {'vote_weights': (1., 1., 1.)},
    '>=60 share off (default: 1.5x the training share)': {'old_share': 'off'},
}

def _done(path):
    return {(r['lesson'], r['seed']): r for r in map(json.loads, path.read_text().splitlines())} if path.exists() else {}

def _score(root, run, **kw):
    "Eval scores of a run on the twin's answer key, and the grouping purity (ARI) when photos are grouped."
    sub, _, images, groups = predict_eval([run], str(root), None, progress=False, return_cache=True, **kw)
    sol = pd.read_csv(Path(root) / 'eval' / 'solution.csv')
    sc = score_submission(sub, sol)
    out = {'private': sc['Private']['f1'], 'all': sc['All']['f1'], **{f'f1_{k}': v for k, v in sc['tasks'].items()}}
    if groups is not None and 'person' in sol:
        persons = sol.set_index('ImageID').loc[[Path(f).name for f in images.index['file']], 'person'].values
        out['ari'] = grouping_ari(groups, persons)
    return out

def run_lessons(root, out, fit=None, lessons=None, seeds=(0, 1, 2), predict_lessons=None):
    """Train each lesson's variant with the same `fit` options for every seed (the split, the sampling and the
    initial weights follow it) and score it on the eval answer key; predict lessons reuse each seed's baseline
    model. Returns the per-run frame; `lessons_table` summarises it."""
    out = Path(out); out.mkdir(parents=True, exist_ok=True)
    log = out / 'runs.jsonl'
    lessons = LESSONS if lessons is None else lessons
    predict_lessons = PREDICT_LESSONS if predict_lessons is None else predict_lessons
    base_name = next(iter(lessons))
    for seed in seeds:
        for i, (name, change) in enumerate(lessons.items()):
            if (name, seed) in _done(log): continue
            if name in LESSONS: i = list(LESSONS).index(name)   # a subset keeps the folder numbers of the full list
            change = dict(change); scale = change.pop('epochs_scale', None)
            opts = {**(fit or {}), 'data': str(root), 'out': str(out / f'lesson{i:02d}_s{seed}'), 'seed': seed, **change}
            if scale and opts.get('epochs'): opts['epochs'] = max(1, round(opts['epochs'] * scale))
            res = fit_run(**opts)
            rec = {'lesson': name, 'seed': seed, 'valid_f1': res['f1'], 'seconds': res['seconds'], 'epochs': res['epochs'],
                   **_score(root, res.get('full_run') or res['run_dir'])}
            with open(log, 'a') as f: f.write(json.dumps(rec) + '\n')
        base = out / f'lesson00_s{seed}'
        for name, kw in predict_lessons.items():
            if (name, seed) in _done(log): continue
            valid = _done(log)[(base_name, seed)]['valid_f1']
            with open(log, 'a') as f: f.write(json.dumps({'lesson': name, 'seed': seed, 'valid_f1': valid, **_score(root, base, **kw)}) + '\n')
    return pd.DataFrame(_done(log).values())

def lessons_table(runs, baseline=None):
    """Per lesson: seeds, mean valid F1, mean and std of the eval Private macro F1, the mean paired delta against the
    baseline (same seed) and its std, and the verdict: 'better'/'worse' only when |delta| exceeds the larger of the
    delta's std and the baseline's spread; a lesson run on one seed says so."""
    runs = pd.DataFrame(runs)
    baseline = baseline or runs['lesson'].iloc[0]
    base = runs[runs.lesson == baseline].set_index('seed')['private']
    rows = []
    for name, g in runs.groupby('lesson', sort=False):
        d = g.set_index('seed')['private'] - base.reindex(g['seed']).values
        spread = np.nanmax([float(d.std(ddof=1)) if len(d) > 1 else np.nan, float(base.std(ddof=1)) if len(base) > 1 else np.nan])
        verdict = '' if name == baseline else ('better' if d.mean() > spread else 'worse' if d.mean() < -spread else 'within noise')
        if name != baseline and len(d) < 2: verdict += ' (1 seed)'   # judged against the baseline's spread only
        rows.append({'lesson': name, 'seeds': len(g), 'valid_f1': g.valid_f1.mean(), 'private_mean': g.private.mean(),
                     'private_std': g.private.std(ddof=1) if len(g) > 1 else np.nan, 'delta': d.mean(),
                     'delta_std': d.std(ddof=1) if len(d) > 1 else np.nan, 'verdict': verdict,
                     'f1_gender': g.f1_gender.mean(), 'f1_age': g.f1_age.mean(), 'ari': g['ari'].mean() if 'ari' in g else np.nan})
    return pd.DataFrame(rows)

def plot_lessons(table, png):
    "Horizontal bars of each lesson's mean eval (Private) macro F1 delta against the baseline, with its std across seeds."
    import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt
    t = table.iloc[1:][::-1]
    fig, ax = plt.subplots(figsize=(8, 0.4 * len(t) + 1.5))
    colors = ['tab:green' if v == 'better' else 'tab:red' if v == 'worse' else 'tab:gray' for v in t.verdict]
    ax.barh(t.lesson, t.delta, xerr=t.delta_std.fillna(0), color=colors, capsize=3); ax.axvline(0, color='k', lw=0.8)
    ax.set_xlabel('eval Private macro F1 minus baseline (mean over seeds, bar: std)')
    fig.tight_layout(); fig.savefig(png, dpi=90); plt.close(fig)
