"""`python -m maskfast.fit`: train a model (one fold, or all k folds) into a run folder."""
__all__ = ['main']

from typing import Annotated
from fastcore.script import call_parse, store_true, CliError
from .train import fit_run, fit_folds

@call_parse
def main(
    data: str = None,          # competition root (train/, eval/); default: the embedded synthetic twin
    arch: str = 'resnet18',    # timm model name, or tv_resnet18/34/50/101 for torchvision
    head: str = 'multi',       # 'multi' (mask/gender/age outputs; measured better) or 'single' (18-way)
    loss: str = 'ce',          # ce | wce | smooth | focal | f1 | sums like 0.6*focal+0.4*f1 | per task mask:ce;age:focal
    pretrained: store_true = False,  # use weights from timm/torchvision local caches (no downloads)
    weights: str = None,       # local .pth/.safetensors state dict for the backbone
    size: Annotated[int, 'image size H W', {'nargs': 2}] = (128, 96),
    crop: float = 0.85,        # centre share of each side kept before resizing
    bs: int = 32,              # batch size
    epochs: int = 0,           # epochs; 0 = as many as fit --budget
    budget: float = 420.,      # seconds for the whole fit when --epochs 0
    lr: float = None,          # max learning rate; default: lr_find's suggestion
    wd: float = None,          # weight decay (fastai default when unset)
    precision: str = 'auto',   # auto | fp32 | bf16 | fp16
    no_channels_last: store_true = False,  # keep NCHW memory format
    freeze_epochs: int = 1,    # with --pretrained/--weights: epochs training the head alone first (fine_tune)
    patience: int = 0,         # early stopping patience in epochs (0 = off)
    keep_best: int = 1,        # best epochs kept as RUN/checkpoints/*.pth (1 = model.pth only)
    folds: int = 5,            # number of person-grouped folds
    fold: str = '0',           # fold to validate on, or 'all' to train every fold
    seed: int = 42,            # seed for split, sampling and init
    weighted: float = 0.5,     # class-weighted sampling power (weight = freq**-p; 0 = off)
    no_downsample: store_true = False,  # use all 5 mask photos per person (default: 1 drawn per epoch)
    old_from: int = 60,        # age from which a person counts as the >=60 class (e.g. 58)
    drop_boundary: store_true = False,  # drop training people aged 28-29 and 57-59
    label_fixes: str = None,   # CSV/YAML of label corrections (gender_swap, mask_swap, age)
    no_cache: store_true = False,  # decode the JPEGs on every read instead of using the preprocessing cache
    aug: str = 'light',        # augmentation preset: none | light | medium | heavy
    workers: int = 0,          # DataLoader worker processes
    out: str = None,           # run folder (default: runs/run-<timestamp>)
    wandb: store_true = False, # log to Weights & Biases (offline without an account)
    quiet: store_true = False, # no progress bars
    resume: str = None,        # continue a killed run from its last complete epoch
):
    "Train a maskfast model and print its validation macro F1."
    opts = dict(data=data, arch=arch, head=head, loss=loss, pretrained=pretrained, weights=weights, size=tuple(size), crop=crop,
                bs=bs, epochs=epochs, budget=budget, lr=lr, wd=wd, precision=precision, channels_last=not no_channels_last,
                freeze_epochs=freeze_epochs, patience=patience, keep_best=keep_best, folds=folds, fold=fold, seed=seed, weighted=weighted, downsample=not no_downsample,
                old_from=old_from, drop_boundary=drop_boundary, label_fixes=label_fixes, cache=not no_cache, aug=aug, workers=workers,
                out=out, wandb=wandb, quiet=quiet)
    if resume: return fit_run(resume=resume)
    try: return fit_folds(**opts) if fold == 'all' else fit_run(**opts)
    except (ValueError, FileNotFoundError) as e:
        raise CliError(f'maskfast.fit: {e}') from None
