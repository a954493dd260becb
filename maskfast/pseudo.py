"""`python -m maskfast.pseudo --data ROOT --rounds R [fit and predict options]`: the pseudo-label loop script. Its
options are the fields of `PseudoConfig`, `PredictConfig` and `FitConfig` (library: `maskfast.infer.pseudo`)."""
__all__ = ['main', 'parser']

from .infer.config import PredictConfig, PseudoConfig
from .infer.pseudo import pseudo_rounds
from .learn.config import FitConfig, config_parser, parse_cli

def parser():
    "The command line, generated from the three configs; each round's fit budget defaults to 180 s here, and its validation fold is held out."
    return config_parser(PseudoConfig, PredictConfig, FitConfig, prog='python -m maskfast.pseudo', defaults={'budget': 180., 'train_all': False},
                         description='Train, pseudo-label the eval set, retrain; print the per-round table and write the final submission.',
                         extra=[(('--out',), dict(help='parent folder (default: runs/pseudo-<timestamp>)'))])

def main(argv=None):
    "Run the rounds."
    given = parse_cli(parser(), argv)
    given.setdefault('budget', 180.)
    data, out = given.pop('data', None), given.pop('out', None)
    rounds, threshold = given.pop('rounds', 2), given.pop('threshold', 0.9)
    try: pseudo_rounds(data, rounds, threshold, out, **given)
    except (ValueError, TypeError, FileNotFoundError) as e: raise SystemExit(f'maskfast.pseudo: {e}') from None

if __name__ == '__main__': main()
