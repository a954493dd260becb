"""Pseudo-labeling rounds: train, predict the unlabeled eval set, add confident predictions to training, retrain."""
__all__ = ['pseudo_items', 'pseudo_rounds']

import shutil
import numpy as np, pandas as pd
from .config import PredictConfig, PseudoConfig
from .submission import predict_eval
from ..data.labels import decode
from ..data.layout import read_eval
from ..data.twin import default_twin
from ..learn.config import FitConfig, split_options
from ..learn.recipes import recipe_config
from ..learn.runs import new_run_dir, write_args
from ..learn.train import fit_run

def pseudo_items(info, probs, cache, threshold=0.9):
    "Training items (src/row into `cache`) for eval images whose top probability is >= `threshold`."
    conf, lab = probs.max(1), probs.argmax(1)
    keep = np.flatnonzero((conf >= threshold) & cache.ok)
    m, g, a = decode(lab[keep])
    items = pd.DataFrame({'file': info['file'].values[keep], 'folder': None, 'id': None, 'stem': 'pseudo', 'gender': g,
                          'age': -1, 'mask': m, 'age_group': a, 'label': lab[keep], 'src': 0, 'row': keep})
    items.attrs['caches'] = [cache]
    return items

def pseudo_rounds(data=None, rounds=2, threshold=0.9, out=None, **opts):
    """Round 0 trains on the labels; each later round adds the previous round's confident eval predictions (training
    only, never validation) and retrains. `opts`: `FitConfig` options for every round's fit and `PredictConfig`
    options for its eval predictions (`cache` goes to both). Writes RUN/args.yaml, RUN/round{r}/, RUN/summary.csv
    and RUN/submission.csv."""
    fit_opts, pred_opts = split_options(opts, FitConfig, PredictConfig)
    fit_opts.setdefault('train_all', False)   # rounds are compared on their validation fold: held out unless asked
    fit_cfg, pred = recipe_config(**fit_opts), PredictConfig(**pred_opts)
    if data is None: data = str(default_twin())
    parent = new_run_dir(out, prefix='pseudo')
    write_args(parent, {**PseudoConfig(rounds, threshold).to_dict(), **pred.to_dict(), **fit_cfg.replace(data=data).to_dict()})
    info = read_eval(data)
    extra, rows = None, []
    for r in range(rounds + 1):
        rd = parent / f'round{r}'
        res = fit_run(fit_cfg.replace(data=data, out=str(rd)), extra=extra)
        sub, probs, cache, _ = predict_eval([rd], data, str(rd / 'submission.csv'), **pred.to_dict(), progress=False,
                                         return_cache=True)   # eval images at this run's size
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
