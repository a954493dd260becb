"""A small voted ensemble from one command: N val-as-train fits that differ only in their seed (split, sampling, init
and augmentation draws), each into RUN/member{i} with the budget shared; `predict RUN` soft-votes them."""
__all__ = ['member_dirs', 'fit_members']

from pathlib import Path
import numpy as np, pandas as pd
from .distrib import is_main
from .runs import new_run_dir, write_args, read_result, read_args

def member_dirs(parent, n):
    "RUN/member0 .. RUN/member{n-1}."
    return [Path(parent) / f'member{i}' for i in range(int(n))]

def _finished(run_dir, cfg):
    "True when `run_dir` holds a finished fit (result.json and model.pth) of exactly `cfg`'s options."
    run_dir = Path(run_dir)
    if not ((run_dir / 'result.json').exists() and (run_dir / 'model.pth').exists() and (run_dir / 'args.yaml').exists()): return False
    saved = {k: v for k, v in read_args(run_dir).items() if k not in ('run', 'versions')}
    return saved == cfg.to_dict()

def fit_members(config=None, fit=None, **opts):
    """Train `members` fits (seeds `seed`, `seed`+1, ...; `budget` / members seconds each unless `epochs` is set) into
    RUN/member{i}, and write RUN/members.json (each member's run folder, seed and validation F1). A member that already
    finished with the same options (a re-run after a killed ensemble) is kept, not trained again. `fit`: the function
    that trains one run (default `fit_run`)."""
    from .train import as_config, fit_run
    cfg = as_config(config, **opts); n = int(cfg.members)
    if n < 2: raise ValueError(f'--members {n}: an ensemble has 2 or more members (1 is a plain fit)')
    parent = new_run_dir(cfg.out)
    if is_main(): write_args(parent, cfg)
    results = []
    for i, d in enumerate(member_dirs(parent, n)):
        mcfg = cfg.replace(members=1, seed=cfg.seed + i, out=str(d), budget=cfg.budget / n)
        if _finished(d, mcfg):
            print(f'members: {d} already finished with these options; kept'); res = read_result(d)
        else:
            print(f'members: training member {i + 1} of {n} (seed {mcfg.seed}) -> {d}')
            res = (fit or fit_run)(mcfg)
        results.append({'run_dir': str(d), 'seed': mcfg.seed, 'f1': res.get('f1')})
    f1s = [r['f1'] for r in results if r['f1'] is not None]
    summary = {'run_dir': str(parent), 'members': results, 'f1': float(np.mean(f1s)) if f1s else None}
    if is_main(): (parent / 'members.json').write_text(pd.Series(summary).to_json(indent=1))
    print(f'{n} members -> {parent} (predict {parent} soft-votes them); mean validation macro F1 '
          f'{summary["f1"]:.4f}{" (trained on: no hold-out)" if cfg.train_all else ""}')
    return summary
