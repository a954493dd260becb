"""`python -m maskfast.pseudo --data ROOT --rounds R [fit options]`: the pseudo-label loop script."""
__all__ = ['main']

from typing import Annotated
from fastcore.script import call_parse, store_true, CliError
from .pseudolabel import pseudo_rounds

@call_parse
def main(
    data: str = None,          # competition root (default: the embedded synthetic twin)
    rounds: int = 2,           # pseudo-label rounds after round 0
    threshold: float = 0.9,    # minimum top probability for an eval image to become a training item
    tta: int = 1,              # TTA views when predicting eval (0 = off)
    consistency: store_true = False,  # per-person gender/age voting before thresholding
    out: str = None,           # parent folder (default: runs/pseudo-<timestamp>)
    arch: str = 'resnet18',    # fit option: model
    head: str = 'multi',       # fit option: multi | single
    loss: str = 'ce',          # fit option: loss spec
    size: Annotated[int, 'image size H W', {'nargs': 2}] = (128, 96),
    bs: int = 32,              # fit option: batch size
    epochs: int = 0,           # fit option: epochs per round (0 = from --budget)
    budget: float = 180.,      # fit option: seconds per round when --epochs 0
    lr: float = None,          # fit option: max learning rate (default: lr_find)
    fold: str = '0',           # fit option: validation fold
    seed: int = 42,            # fit option: seed
    old_from: int = 60,        # fit option: old-age threshold
    quiet: store_true = False, # no progress bars
    no_cache: store_true = False,  # decode images on every read instead of using the preprocessing cache
):
    "Train, pseudo-label the eval set, retrain; print the per-round table and write the final submission."
    try: pseudo_rounds(data, rounds, threshold, tta, consistency, out, arch=arch, head=head, loss=loss, size=tuple(size), bs=bs,
                       epochs=epochs, budget=budget, lr=lr, fold=fold, seed=seed, old_from=old_from, quiet=quiet,
                       cache=not no_cache)
    except (ValueError, FileNotFoundError) as e: raise CliError(f'maskfast.pseudo: {e}') from None
