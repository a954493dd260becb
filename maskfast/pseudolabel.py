"""Pseudo-labeling rounds: train, predict the unlabeled eval set, add confident predictions to training, retrain."""
__all__ = ['pseudo_items', 'pseudo_rounds']

import shutil
import numpy as np, pandas as pd
from .labels import decode
from .layout import read_eval
from .runs import new_run_dir
from .submit import predict_eval
from .train import fit_run

def pseudo_items(info, probs, cache, threshold=0.9):
    "Training items (src/row into `cache`) for eval images whose top probability is >= `threshold`."
    conf, lab = probs.max(1), probs.argmax(1)
    keep = np.flatnonzero((conf >= threshold) & cache.ok)
    m, g, a = decode(lab[keep])
    items = pd.DataFrame({'file': info['file'].values[keep], 'folder': None, 'id': None, 'stem': 'pseudo', 'gender': g,
                          'age': -1, 'mask': m, 'age_group': a, 'label': lab[keep], 'src': 0, 'row': keep})
    items.attrs['caches'] = [cache]
    return items

def pseudo_rounds(data=None, rounds=2, threshold=0.9, tta=1, consistency=False, out=None, **fit_opts):
    """Round 0 trains on the labels; each later round adds the previous round's confident eval predictions (training
    only, never validation) and retrains. Writes RUN/round{r}/, RUN/summary.csv and RUN/submission.csv."""
    if data is None:
        from .twin import default_twin
        data = str(default_twin())
    parent = new_run_dir(out, prefix='pseudo')
    info = read_eval(data)
    extra, rows = None, []
    for r in range(rounds + 1):
        rd = parent / f'round{r}'
        res = fit_run(**{**fit_opts, 'data': data, 'out': str(rd), 'extra': extra})
        sub, probs, cache = predict_eval([rd], data, str(rd / 'submission.csv'), tta=tta, consistency=consistency,
                                         progress=False, return_cache=True, cache=fit_opts.get('cache', True))   # eval images at this run's size
        n_added = 0 if extra is None else len(extra)
        extra = pseudo_items(info, probs, cache, threshold)
        note = '' if not rows or res['f1'] >= rows[-1]['valid_f1'] else 'lower validation F1 than the previous round'
        rows.append({'round': r, 'images_added': n_added, 'valid_f1': res['f1'], 'next_round_pseudo': len(extra), 'note': note})
        if note: print(f'round {r}: {note} ({res["f1"]:.4f} < {rows[-2]["valid_f1"]:.4f})')
        print(f'round {r}: {n_added} pseudo-labelled images in training, valid macro F1 {res["f1"]:.4f}')
    summary = pd.DataFrame(rows); summary.to_csv(parent / 'summary.csv', index=False)
    shutil.copy(parent / f'round{rounds}' / 'submission.csv', parent / 'submission.csv')
    print(summary.to_string(index=False)); print(f'final submission: {parent / "submission.csv"}')
    return summary
