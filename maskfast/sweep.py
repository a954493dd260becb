"""`python -m maskfast.sweep [fit options] --trials N --out DIR`: an optuna sweep over fit options, each trial a budgeted
fit; the study in DIR/study.db (library: `maskfast.experiments.sweep.run_sweep`)."""
__all__ = ['main', 'parser']

from .experiments.sweep import SweepConfig, run_sweep
from .learn.config import FitConfig, config_parser, parse_cli, split_options

def parser():
    "The command line: the sweep's own options, then every fit option (fixed for all trials when given)."
    return config_parser(SweepConfig, FitConfig, prog='python -m maskfast.sweep', defaults={'budget': 120., 'train_all': False},
                         description='Search fit options with optuna; write trials.csv, plots and best_recipe.yaml.',
                         extra=[(('--out',), dict(required=True, metavar='DIR', help='sweep folder: study.db, trial folders, '
                                                  'trials.csv, plots, best_recipe.yaml (the same DIR continues the study)'))])

def main(argv=None):
    "Run the sweep."
    given = parse_cli(parser(), argv)
    out, wandb = given.pop('out'), given.pop('wandb', False)
    given.setdefault('budget', 120.)
    try:
        sweep, fit = split_options(given, SweepConfig, FitConfig)
        run_sweep(out, SweepConfig(**sweep), fit, wandb)
    except (ValueError, TypeError, FileNotFoundError) as e: raise SystemExit(f'maskfast.sweep: {e}') from None

if __name__ == '__main__': main()
