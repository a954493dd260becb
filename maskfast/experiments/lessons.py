"""The competition lessons as measured deltas: each variant trained on the same twin and budget, scored on its eval key."""
__all__ = ['LESSONS', 'run_lessons', 'plot_lessons']

from pathlib import Path
import pandas as pd
from ..infer.pseudo import pseudo_rounds
from ..infer.submission import predict_eval, score_submission
from ..learn.train import fit_run, fit_folds

# name -> fit options changed from the baseline
LESSONS = {
    'baseline (single head, person split, weighted 0.5, 1-of-5 masks)': {'head': 'single'},
    'random image split': {'split': 'image'},
    'no weighted sampling': {'weighted': 0},
    'weighted sampling power 1': {'weighted': 1.0},
    'all 5 mask photos': {'downsample': False},
    'age relabel at 58': {'old_from': 58},
    'boundary drop': {'drop_boundary': True},
    'multi head (the default since this table)': {'head': 'multi'},
    'focal loss': {'loss': 'focal'},
    '0.6 focal + 0.4 soft-F1': {'loss': '0.6*focal+0.4*f1'},
    'label smoothing': {'loss': 'smooth'},
}

def _score(root, runs, **kw):
    sub, _ = predict_eval(runs, str(root), None, progress=False, **kw)
    return score_submission(sub, Path(root) / 'eval' / 'solution.csv')

def run_lessons(root, out, fit=None, lessons=None, folds=5, pseudo=True, kfold=True):
    """Train each lesson's variant with the same `fit` options and report valid F1 and the eval key's Private/All F1.
    Also: TTA off, person consistency, k-fold soft vs hard voting, one pseudo-label round. Returns the table."""
    out = Path(out); out.mkdir(parents=True, exist_ok=True)
    fit = dict(fit or {}); rows = []
    def add(name, valid, sc): rows.append({'lesson': name, 'valid_f1': valid, 'eval_f1_private': sc['Private']['f1'],
                                           'eval_f1_all': sc['All']['f1']})
    base = None
    for i, (name, change) in enumerate((lessons or LESSONS).items()):
        res = fit_run(data=str(root), out=str(out / f'lesson{i}'), **{**fit, **change})
        add(name, res['f1'], _score(root, [res['run_dir']], tta=1))
        if i == 0:
            base = res['run_dir']
            add('TTA off (baseline model)', res['f1'], _score(root, [base], tta=0))
            add('person consistency (baseline model)', res['f1'], _score(root, [base], tta=1, consistency=True))
    if kfold:
        kres = fit_folds(data=str(root), out=str(out / 'kfold'), **{**fit, 'folds': folds, 'budget': fit.get('budget', 420) * folds})
        add(f'{folds}-fold soft vote', kres['oof_f1'], _score(root, [kres['run_dir']], tta=1, vote='soft'))
        add(f'{folds}-fold hard vote', kres['oof_f1'], _score(root, [kres['run_dir']], tta=1, vote='hard'))
    if pseudo:
        summ = pseudo_rounds(str(root), rounds=1, out=str(out / 'pseudo'), **fit)
        sc = score_submission(out / 'pseudo' / 'submission.csv', Path(root) / 'eval' / 'solution.csv')
        add('1 pseudo-label round', float(summ.valid_f1.iloc[-1]), sc)
    table = pd.DataFrame(rows)
    b = table.eval_f1_private.iloc[0]
    table['delta_private'] = table.eval_f1_private - b
    table.to_csv(out / 'lessons.csv', index=False)
    return table

def plot_lessons(table, png):
    "Horizontal bar chart of each lesson's eval (Private) macro F1 delta against the baseline."
    import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(table) + 1.5))
    colors = ['tab:green' if d > 0 else 'tab:red' for d in table.delta_private]
    ax.barh(table.lesson[::-1], table.delta_private[::-1], color=colors[::-1]); ax.axvline(0, color='k', lw=0.8)
    ax.set_xlabel('eval Private macro F1 minus baseline'); fig.tight_layout(); fig.savefig(png, dpi=90); plt.close(fig)
