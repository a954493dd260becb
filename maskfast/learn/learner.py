"""One factory that wires model, loss, metrics and callbacks into a fastai Learner."""
__all__ = ['mask_learner']

import os, tempfile
from pathlib import Path
from fastai.learner import Learner
import fastai.callback.schedule  # noqa: F401  (patches Learner.lr_find and fit_one_cycle)
from fastai.vision.learner import default_split
from .averaging import WeightAverage
from .callbacks import CPUAutocast, ChannelsLastMemory, EarlyStop, EpochLines, pick_precision
from .checkpoints import BestModelSaver, EpochCheckpoint
from .losses import make_loss
from .metrics import mask_metrics, monitor_metric
from .person_loss import PersonConsistency
from .optim import adam_opt
from .models import build_model, load_body_weights, set_input_stats
from .pretrained import pretrained_state_dict
from .distrib import is_main, rank
from ..data.progress import interactive
from ..data.sampling import class_weights

def mask_learner(dls, arch='resnet18', head='multi', loss='ce', weights=None, pretrained=False, precision='auto',
                 channels_last=True, monitor=None, patience=0, run_dir=None, class_weight_power=0.5,
                 wd=None, quiet=False, wandb=False, keep_best=1, task='all', age_head='class', old_from=60, select_best=True, ema=0.,
                 stem='plain', skip_ages=None, person_loss=0., person_loss_on='age', person_pull='all', drop_path=0., age_sigma=0.,
                 fused_adam=True):
    """A fastai Learner for the 18 classes: model from `arch` (timm or tv_resnet*), `head` 'single'|'multi', `loss` spec,
    metrics every epoch, CPU bf16 autocast / CUDA fp16, and when `run_dir` is given: history.csv, best model.pth,
    per-epoch last.pth checkpoints (each followed by its history row), the `keep_best` best epochs under checkpoints/,
    and early stopping on `monitor` (`patience` > 0; default: the 18-class macro F1, or the task's for a `task` model).
    `select_best=False` keeps the last epoch (a refit whose validation people are in training has nothing to select on).
    `ema` > 0: validate and keep an exponential moving average of the weights over about that many epochs; `stem` 's2d':
    the space-to-depth stem, 's2d-detail' with the detail channel, 's2d-fine' at twice the side, 's2d-fine-log' that from
    the log brightness's detail, told the loaders' normalisation (`build_model`). `skip_ages` ((lo, hi), ...): ages left out
    of the multi head's age loss (`--skip-boundary-age`; the loaders must give the age as a second target). `person_loss`:
    the weight of `PersonConsistency` on the outputs `person_loss_on`, pulling the photos `person_pull` (the training loader
    must draw whole people: `person_batches`). `drop_path`: stochastic depth in the body (`build_model`). `age_sigma`: soft
    age-group targets from the age (`SoftAgeGroupLoss`; the loaders must give the age as a second target). `fused_adam`:
    fastai's Adam stepped by torch's fused AdamW kernel (`FusedAdam`), else fastai's own."""
    model = build_model(arch, head, task, age_head, stem, drop_path)
    norm = _input_norm(dls)
    if norm is not None: set_input_stats(model, *norm)
    monitor = monitor or monitor_metric(task)
    if weights: print(f'loaded {load_body_weights(model, weights, arch)} backbone tensors from {weights}')
    elif pretrained: print(f'loaded {load_body_weights(model, pretrained_state_dict(arch), arch)} pretrained backbone tensors')
    labels = dls.items['label'].values[:len(dls.train_ds)] if hasattr(dls, 'items') else None
    cw = class_weights(labels, 18, class_weight_power) if labels is not None else None
    cbs = []
    prec = pick_precision(precision, dls.device)
    if prec == 'bf16' and dls.device.type == 'cpu': cbs.append(CPUAutocast())
    if channels_last: cbs.append(ChannelsLastMemory())
    if ema: cbs.append(WeightAverage(ema))
    if person_loss: cbs.append(PersonConsistency(person_loss, person_loss_on, person_pull))
    main = is_main()
    if not run_dir: path = Path('.')
    elif main: path = Path(run_dir)
    else: path = Path(tempfile.gettempdir()) / f'maskfast-rank{rank()}'   # ranks > 0 keep lr_find's scratch out of the run folder
    path.mkdir(parents=True, exist_ok=True)
    learn = Learner(dls, model, loss_func=make_loss(loss, head, cw, task=task, age_head=age_head, old_from=old_from, skip_ages=skip_ages,
                                                      age_sigma=age_sigma), metrics=mask_metrics(task), splitter=default_split,
                    path=path, model_dir='.', cbs=cbs, opt_func=adam_opt(fused_adam, dls.device), **({'wd': wd} if wd is not None else {}))
    if prec == 'fp16' and dls.device.type == 'cuda': learn.to_fp16()
    elif prec == 'bf16' and dls.device.type == 'cuda': learn.to_bf16()
    learn.precision = prec
    if run_dir:   # every rank tracks the best epoch and stops early alike; only rank 0 writes
        saver = BestModelSaver(path / 'model.pth' if main else None, monitor=monitor, keep=keep_best) if select_best else None
        record = EpochCheckpoint(path / 'last.pth', path / 'history.csv', saver, getattr(dls.train, 'aug', None))
        learn.add_cbs([cb for cb in ([saver, record] if main else [saver]) if cb is not None])
        if patience: learn.add_cb(EarlyStop(monitor=monitor, patience=patience))
    if quiet: learn.remove_cbs(learn.progress); learn.progress = None; learn.logger = _silent
    elif not interactive(): learn.remove_cbs(learn.progress); learn.progress = None; learn.add_cb(EpochLines())   # CI, nohup, > log
    if wandb: _add_wandb(learn, run_dir)
    return learn

def _input_norm(dls):
    "(mean, std) of the `NormalizeU8` among the loaders' batch transforms, or None."
    from ..data.loader import NormalizeU8
    for t in getattr(getattr(dls, 'after_batch', None), 'fs', []):
        if isinstance(t, NormalizeU8): return t.mean, t.std
    return None

def _silent(*args, **kwargs): pass

def _add_wandb(learn, run_dir):
    "Weights & Biases logging; offline when no account is configured (wandb.init must come before WandbCallback)."
    import wandb
    from fastai.callback.wandb import WandbCallback
    if not os.environ.get('WANDB_API_KEY') and os.environ.get('WANDB_MODE') is None: os.environ['WANDB_MODE'] = 'offline'
    if wandb.run is None: wandb.init(project='maskfast', dir=str(run_dir or '.'), config={}, reinit=True)
    learn.gather_args = _no_gather   # fastai 2.8's Learner.gather_args crashes under fastcore 2.2
    learn.add_cb(WandbCallback(log_preds=False, log_model=False))

def _no_gather(*args, **kwargs): return {}
