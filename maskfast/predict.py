"""`python -m maskfast.predict RUN_DIR [RUN_DIR ...]`: a submission for eval/, or predictions for any images. The
prediction options are the fields of `maskfast.infer.config.PredictConfig` (library: `maskfast.infer.submission`)."""
__all__ = ['main', 'parser']

from .infer.config import PredictConfig
from .infer.submission import predict_eval, predict_images
from .learn.config import config_parser, parse_cli

def parser():
    "The command line: run folders, where to read and write, then the generated `PredictConfig` options."
    return config_parser(PredictConfig, prog='python -m maskfast.predict', description='Predict with trained maskfast runs.', extra=[
        (('runs',), dict(nargs='*', metavar='RUN', help='run folders or k-fold parents (default: the newest under runs/)')),
        (('--data',), dict(help='competition root holding eval/ (default: the data the first run trained on)')),
        (('--out',), dict(help='output CSV (default: submission.csv, or predictions.csv with --images)')),
        (('--images',), dict(nargs='+', help='image files or folders to predict instead of eval/'))])

def main(argv=None):
    "Write submission.csv (or predictions.csv for --images)."
    given = parse_cli(parser(), argv)
    runs, data, out, images = (given.pop(k, None) for k in ('runs', 'data', 'out', 'images'))
    try:
        cfg = PredictConfig(**given)
        if images: predict_images(runs or None, images, out or 'predictions.csv', cfg.tta, cfg.vote, cache=cfg.cache, precision=cfg.precision)
        else: predict_eval(runs or None, data, out or 'submission.csv', **cfg.to_dict())
    except (ValueError, FileNotFoundError) as e: raise SystemExit(f'maskfast.predict: {e}') from None

if __name__ == '__main__': main()
