"""`python -m maskfast.predict RUN_DIR [RUN_DIR ...]`: a submission for eval/, or predictions for any images."""
__all__ = ['main']

from typing import Annotated
from fastcore.script import call_parse, store_true, CliError
from .submit import predict_eval, predict_images

@call_parse
def main(
    runs: Annotated[str, 'run folders or k-fold parents (default: the newest under runs/)', {'nargs': '*', 'opt': False}] = None,
    data: str = None,          # competition root holding eval/ (default: the data the first run trained on)
    out: str = None,           # output CSV (default: submission.csv, or predictions.csv with --images)
    tta: int = 1,              # extra test-time views: 1 = + horizontal flip, N >= 2 adds training-augmentation draws; 0 = off
    vote: str = 'soft',        # ensemble voting: soft (mean probabilities) or hard (majority)
    weighted: store_true = False,     # weight models by their validation macro F1
    consistency: store_true = False,  # vote gender/age over photos grouped as one person
    images: Annotated[str, 'image files or folders to predict instead of eval/', {'nargs': '+'}] = None,
    no_cache: store_true = False,     # decode the images on every read instead of using the preprocessing cache
):
    "Predict with trained maskfast runs."
    try:
        if images: predict_images(runs or None, images, out or 'predictions.csv', tta, vote, cache=not no_cache)
        else: predict_eval(runs or None, data, out or 'submission.csv', tta, vote, weighted, consistency, cache=not no_cache)
    except (ValueError, FileNotFoundError) as e: raise CliError(f'maskfast.predict: {e}') from None
