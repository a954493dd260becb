"""`python -m maskfast.fit`: train a model (one fold, or all k folds) into a run folder. Every option is a field of
`maskfast.learn.config.FitConfig`, with its default and help; this module only parses them (library:
`maskfast.learn.train.fit_run` / `fit_folds`, `maskfast.learn.ensemble.fit_members`)."""
__all__ = ['main', 'parser']

from .learn.config import FitConfig, config_parser, parse_cli
from .learn.pretrained import WeightsError
from .learn.recipes import recipe_config
from .learn.train import fit_run, fit_folds
from .learn.ensemble import fit_members

def parser():
    "The command line, generated from `FitConfig`."
    return config_parser(FitConfig, prog='python -m maskfast.fit', description='Train a maskfast model and print its '
                         'validation macro F1.', extra=[(('--resume',), dict(metavar='RUN', help=
                         'continue a killed run from its last complete epoch, with the options in RUN/args.yaml'))])

def main(argv=None):
    "Parse the options the user typed into a `FitConfig` and train."
    given = parse_cli(parser(), argv)
    resume = given.pop('resume', None)
    try:
        if resume: return fit_run(resume=resume, **given)
        cfg = recipe_config(**given)   # defaults < the recipe's options < the options typed
        return fit_folds(cfg) if cfg.fold == 'all' else fit_members(cfg) if cfg.members > 1 else fit_run(cfg)
    except (ValueError, TypeError, FileNotFoundError, WeightsError) as e: raise SystemExit(f'maskfast.fit: {e}') from None

if __name__ == '__main__': main()
