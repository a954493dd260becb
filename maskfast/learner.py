"""One factory that wires model, loss, metrics and callbacks into a fastai Learner; data loading for a run."""
__all__ = ['mask_learner', 'load_items', 'external_training_items', 'plan_epochs', 'check_size']

import tempfile
from pathlib import Path
import numpy as np
from fastai.learner import Learner
import fastai.callback.schedule  # noqa: F401  (patches Learner.lr_find and fit_one_cycle)
from fastai.vision.learner import default_split
from fastai.callback.progress import CSVLogger
from .callbacks import CPUAutocast, ChannelsLast, BestModelSaver, EpochCheckpoint, EarlyStop, pick_precision
from .losses import make_loss
from .metrics import mask_metrics
from .models import build_model, load_body_weights, cached_pretrained
from .sampling import class_weights
from .labels import apply_label_fixes, relabel_ages
from .layout import read_train
from .cache import open_images
from .distrib import is_main, rank

def check_size(size, multiple=32):
    "Round (H, W) to the model's stride multiple, with a notice."
    new = tuple(max(multiple, int(round(s / multiple)) * multiple) for s in size)
    if new != tuple(size): print(f'notice: --size {size[0]} {size[1]} is not divisible by {multiple}; using {new[0]} {new[1]}')
    return new

def load_items(root, size, crop=0.85, old_from=60, label_fixes=None, workers=None, verbose=True, cache=True):
    """(items frame with src/row columns, [train images]) for the train images of `root`; unreadable images left out.
    The images come from the preprocessing cache, or are decoded on every read with `cache=False`."""
    df = read_train(root, 60, verbose=verbose)
    if label_fixes: df = apply_label_fixes(df, label_fixes, old_from)
    elif old_from != 60: df = relabel_ages(df, old_from)
    cache = open_images(df['file'], size, crop, 'train', cache, workers, verbose=verbose, progress=verbose)
    df['src'], df['row'] = 0, np.arange(len(df))
    if (~cache.ok).any():
        print(f'left out {(~cache.ok).sum()} unreadable training image(s)')
        df = df[cache.ok].reset_index(drop=True)
    return df, [cache]

def external_training_items(csv, size, crop=0.85, old_from=60, verbose=True, cache=True):
    "Items from an external `path,gender,age,mask` CSV, cached, ready to pass as `fit_run(extra=...)` (training only)."
    from .layout import read_external
    ext = read_external(csv, old_from)
    cache = open_images(ext['file'], size, crop, 'external', cache, verbose=verbose, progress=verbose)
    ext['src'], ext['row'] = 0, np.arange(len(ext))
    ext = ext[cache.ok].reset_index(drop=True)
    ext.attrs['caches'] = [cache]
    return ext

def mask_learner(dls, arch='resnet18', head='multi', loss='ce', weights=None, pretrained=False, precision='auto',
                 channels_last=True, monitor='f1_macro', patience=0, run_dir=None, class_weight_power=0.5,
                 wd=None, ps=None, quiet=False, wandb=False, keep_best=1):
    """A fastai Learner for the 18 classes: model from `arch` (timm or tv_resnet*), `head` 'single'|'multi', `loss` spec,
    metrics every epoch, CPU bf16 autocast / CUDA fp16, and when `run_dir` is given: history.csv, best model.pth,
    per-epoch last.pth checkpoints, the `keep_best` best epochs under checkpoints/, and early stopping on `monitor`
    (`patience` > 0)."""
    model = build_model(arch, head)
    if weights: print(f'loaded {load_body_weights(model, weights, arch)} backbone tensors from {weights}')
    elif pretrained: print(f'loaded {load_body_weights(model, cached_pretrained(arch), arch)} cached pretrained backbone tensors')
    labels = dls.items['label'].values[:len(dls.train_ds)] if hasattr(dls, 'items') else None
    cw = class_weights(labels, 18, class_weight_power) if labels is not None else None
    cbs = []
    prec = pick_precision(precision, dls.device)
    if prec == 'bf16' and dls.device.type == 'cpu': cbs.append(CPUAutocast())
    if channels_last: cbs.append(ChannelsLast())
    main = is_main()
    if not run_dir: path = Path('.')
    elif main: path = Path(run_dir)
    else: path = Path(tempfile.gettempdir()) / f'maskfast-rank{rank()}'   # ranks > 0 keep lr_find's scratch out of the run folder
    path.mkdir(parents=True, exist_ok=True)
    learn = Learner(dls, model, loss_func=make_loss(loss, head, cw), metrics=mask_metrics(), splitter=default_split,
                    path=path, model_dir='.', cbs=cbs, **({'wd': wd} if wd is not None else {}))
    if prec == 'fp16' and dls.device.type == 'cuda': learn.to_fp16()
    elif prec == 'bf16' and dls.device.type == 'cuda': learn.to_bf16()
    learn.precision = prec
    if run_dir:   # every rank tracks the best epoch and stops early alike; only rank 0 writes
        saver = BestModelSaver(path / 'model.pth' if main else None, monitor=monitor, keep=keep_best)
        learn.add_cbs([CSVLogger(fname='history.csv'), saver, EpochCheckpoint(path / 'last.pth', saver)] if main else [saver])
        if patience: learn.add_cb(EarlyStop(monitor=monitor, patience=patience))
    if quiet: learn.remove_cbs(learn.progress); learn.progress = None; learn.logger = _silent
    if wandb: _add_wandb(learn, run_dir)
    return learn

def _silent(*args, **kwargs): pass

def _add_wandb(learn, run_dir):
    "Weights & Biases logging; offline when no account is configured (wandb.init must come before WandbCallback)."
    import os, wandb
    from fastai.callback.wandb import WandbCallback
    if not os.environ.get('WANDB_API_KEY') and os.environ.get('WANDB_MODE') is None: os.environ['WANDB_MODE'] = 'offline'
    if wandb.run is None: wandb.init(project='maskfast', dir=str(run_dir or '.'), config={}, reinit=True)
    learn.gather_args = _no_gather   # fastai 2.8's Learner.gather_args crashes under fastcore 2.2
    learn.add_cb(WandbCallback(log_preds=False, log_model=False))

def _no_gather(*args, **kwargs): return {}

def plan_epochs(budget_s, spent_s, step_s, n_train_batches, n_valid_batches, reserve_s=20, lo=2, hi=40):
    """Epochs that fit the remaining time budget from measured seconds per train step. A validation batch costs about
    1/5 of a training step (measured: inference 611 img/s vs training 115 img/s, resnet18 128x96 on 2 cores)."""
    epoch_s = step_s * (n_train_batches + n_valid_batches / 5)
    return int(np.clip((budget_s - spent_s - reserve_s) // max(epoch_s, 1e-6), lo, hi)), epoch_s
