"""Hyper-parameter sweeps with optuna: every trial a budgeted fit in its own run folder, the study in SQLite (a second
call continues it; a killed sweep loses at most the trial that was running), trials.csv, optuna's plots, and the best
trial written as a recipe file that `fit --recipe FILE` reads."""
__all__ = ['SPACE', 'SweepConfig', 'load_space', 'suggest', 'run_sweep']

from dataclasses import dataclass
from pathlib import Path
import pandas as pd
from ..data.augment import PRESETS
from ..learn.config import Config, FitConfig, option
from ..learn.recipes import recipe_config, write_recipe
from ..learn.train import fit_run

# option -> how optuna draws it; a YAML file of the same shape (--space) replaces it
SPACE = {
    'lr': {'type': 'float', 'low': 1e-3, 'high': 1e-2, 'log': True},
    'weighted': {'type': 'float', 'low': 0.0, 'high': 1.0},
    'loss': {'type': 'categorical', 'choices': ['ce', 'focal', 'smooth', '0.6*focal+0.4*f1']},
    'aug': {'type': 'categorical', 'choices': list(PRESETS)},
    'size': {'type': 'categorical', 'choices': [[96, 64], [128, 96], [160, 128]]},
    'old_from': {'type': 'int', 'low': 58, 'high': 60},
    'head': {'type': 'categorical', 'choices': ['multi', 'single']},
}

@dataclass
class SweepConfig(Config):
    "A sweep: how many trials, over which space, in which study."
    trials: int = option(10, 'finished trials the study should hold (a second call with a larger N continues it)', 'sweep')
    space: str = option(None, 'YAML file of the search space (option: {type: float|int|categorical, low, high, log, choices})', 'sweep')
    study: str = option('maskfast', 'study name inside DIR/study.db', 'sweep')
    sampler_seed: int = option(0, "seed of optuna's TPE sampler", 'sweep')

def load_space(path=None, fixed=()):
    "The search space (SPACE, or a YAML file of that shape), less the options fixed on the command line."
    space = SPACE
    if path:
        import yaml
        space = yaml.safe_load(Path(path).read_text()) or {}
    names = {f for f in FitConfig.__dataclass_fields__}
    for k, v in space.items():
        if k not in names: raise ValueError(f'{path}: {k!r} is not a fit option')
        if v.get('type') not in ('float', 'int', 'categorical'): raise ValueError(f'{path}: {k}: type must be float, int or categorical')
    return {k: v for k, v in space.items() if k not in set(fixed)}

def _key(v): return ' '.join(map(str, v)) if isinstance(v, (list, tuple)) else v

def suggest(trial, space):
    "Fit options drawn for `trial` from `space` (list choices such as sizes travel as strings inside optuna)."
    out = {}
    for k, v in space.items():
        if v['type'] == 'float': out[k] = trial.suggest_float(k, v['low'], v['high'], log=v.get('log', False))
        elif v['type'] == 'int': out[k] = trial.suggest_int(k, v['low'], v['high'], log=v.get('log', False))
        else:
            pick = trial.suggest_categorical(k, [_key(c) for c in v['choices']])
            out[k] = next(c for c in v['choices'] if _key(c) == pick)
    return {k: tuple(v) if isinstance(v, list) else v for k, v in out.items()}

def _fail_killed(study):
    "Trials left RUNNING by a killed sweep become FAIL (marked killed) and do not count towards the trials wanted."
    from optuna.trial import TrialState
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study._storage.set_trial_user_attr(t._trial_id, 'killed', True)
        study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
        print(f'notice: trial {t.number} was running when an earlier sweep was killed: marked failed, its run folder kept')

def _finished(study):
    from optuna.trial import TrialState
    return [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL))
            if not t.user_attrs.get('killed')]

def _write_trials(study, path):
    "trials.csv: one row per finished trial (number, state, valid F1, parameters, run folder, seconds)."
    from optuna.trial import TrialState
    rows = [{'number': t.number, 'state': t.state.name, 'valid_f1': t.value, **t.params, 'run_dir': t.user_attrs.get('run_dir'),
             'seconds': t.user_attrs.get('seconds')} for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL))]
    tmp = path.with_suffix('.tmp'); pd.DataFrame(rows).to_csv(tmp, index=False); tmp.replace(path)

def _plots(study, out):
    "optuna's optimisation history and parameter importances as PNG (importances need two finished trials)."
    import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ovm
    made = []
    for name, fn in (('history.png', ovm.plot_optimization_history), ('importance.png', ovm.plot_param_importances)):
        try: ax = fn(study)
        except (ValueError, RuntimeError, ZeroDivisionError) as e: print(f'notice: no {name} yet ({e})'); continue
        ax.figure.set_size_inches(8, 5); ax.figure.tight_layout(); ax.figure.savefig(out / name, dpi=80); plt.close('all')
        made.append(name)
    return made

def run_sweep(out, sweep=None, fit=None, wandb=False):
    """Run trials until the study in OUT/study.db holds `sweep.trials` finished ones. `fit`: the fit options every
    trial shares (a dict, as typed; those also in the space are fixed, not searched). Returns the study."""
    import optuna
    sweep, fit = sweep or SweepConfig(), dict(fit or {})
    if fit.get('train_all'): raise ValueError('a sweep ranks its trials on their hold-out fold: --train-all (val-as-train) leaves none')
    fit['train_all'] = False   # every trial holds its validation fold out, whatever the default
    out = Path(out); out.mkdir(parents=True, exist_ok=True)
    space = load_space(sweep.space, fixed=fit)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=sweep.study, storage=f'sqlite:///{out / "study.db"}', load_if_exists=True,
                                direction='maximize', sampler=optuna.samplers.TPESampler(seed=sweep.sampler_seed))
    _fail_killed(study)
    done = len(_finished(study))
    todo = max(0, sweep.trials - done)
    print(f'sweep {out}: {done} finished trial(s) in study {sweep.study!r}, {todo} to run')
    for k in range(todo):
        trial = study.ask()
        params = suggest(trial, space)
        run_dir = out / f'trial{trial.number:03d}'
        trial.set_user_attr('run_dir', str(run_dir))
        print(f'trial {done + k + 1} of {sweep.trials}: ' + ', '.join(f'{p}={v}' for p, v in params.items()), flush=True)
        try:
            if wandb: _wandb_init(out, trial.number, params)
            res = fit_run(recipe_config(**{**fit, **params, 'out': str(run_dir), 'wandb': wandb}))
            trial.set_user_attr('seconds', res['seconds'])
            study.tell(trial, res['f1'])
        except Exception as e:   # a failing trial is recorded and the sweep goes on (a KeyboardInterrupt stops it)
            print(f'trial {trial.number} failed: {type(e).__name__}: {e}')
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        finally:
            if wandb: _wandb_finish()
        _write_trials(study, out / 'trials.csv')
    _plots(study, out)
    try: best = study.best_trial
    except ValueError: print('no trial finished yet: no best recipe'); return study
    opts = {**{k: v for k, v in fit.items() if k not in ('out', 'recipe', 'quiet', 'wandb', 'data', 'train_all')}, **suggest(_Fixed(best.params), space)}
    write_recipe(out / 'best_recipe.yaml', opts, f'best of study {sweep.study!r} in {out}: trial {best.number}, '
                                                 f'valid macro F1 {best.value:.4f}\nuse: python -m maskfast.fit --recipe {out / "best_recipe.yaml"}')
    print(f'best: trial {best.number}, valid macro F1 {best.value:.4f} -> {out / "best_recipe.yaml"}')
    return study

class _Fixed:
    "A stand-in trial that answers `suggest` with a finished trial's parameters."
    def __init__(self, params): self.params = params
    def suggest_float(self, k, *a, **kw): return self.params[k]
    def suggest_int(self, k, *a, **kw): return self.params[k]
    def suggest_categorical(self, k, choices): return self.params[k]

def _wandb_init(out, number, params):
    import wandb
    wandb.init(project='maskfast-sweep', name=f'trial{number:03d}', dir=str(out), config=params, reinit=True)

def _wandb_finish():
    import wandb
    if wandb.run is not None: wandb.finish()
