"""Callbacks: CPU bf16 autocast, channels_last, a batch timer for the time budget, early stopping (resume-aware),
progressive resizing, validating only the last epoch."""
__all__ = ['unwrap', 'skipped', 'EarlyStop', 'BatchTimer', 'LowPrecisionDiverged', 'CPUAutocast', 'ChannelsLastMemory', 'pick_precision',
           'EpochLines', 'ProgressiveResize', 'small_size', 'ValidateLast']

import time
from pathlib import Path
import numpy as np, torch
from fastcore.basics import store_attr
from fastai.callback.core import Callback, CancelFitException, CancelValidException
from fastai.learner import Recorder
from fastai.callback.tracker import TrackerCallback, EarlyStoppingCallback
from fastai.torch_core import to_float, maybe_gather
from torch.nn.parallel import DistributedDataParallel, DataParallel
from .config import PRECISIONS

def unwrap(model):
    "The model inside a (Distributed)DataParallel wrapper: its state dict has no `module.` prefix."
    return model.module if isinstance(model, (DistributedDataParallel, DataParallel)) else model

def skipped(learn):
    "True while fastai's SkipToEpoch (resume) is skipping the current epoch."
    s = getattr(learn, 'skip_to_epoch', None)
    return s is not None and learn.epoch < s._skip_to

def pick_precision(precision='auto', device=None):
    "Resolve 'auto'|'fp32'|'bf16'|'fp16' for the device, with a one-line notice when it falls back; anything else raises."
    if precision not in PRECISIONS: raise ValueError(f'precision {precision!r} is not one of {", ".join(PRECISIONS)}')
    dev = torch.device(device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    if precision == 'auto': precision = 'fp16' if dev.type == 'cuda' else ('bf16' if _cpu_bf16() else 'fp32')
    if precision == 'fp16' and dev.type != 'cuda':
        print('notice: fp16 needs CUDA; using ' + ('bf16 autocast' if _cpu_bf16() else 'fp32') + ' on the CPU')
        precision = 'bf16' if _cpu_bf16() else 'fp32'
    if precision == 'bf16' and dev.type == 'cpu' and not _cpu_bf16():
        print('notice: this CPU has no native bf16 (avx512_bf16/amx); using fp32'); precision = 'fp32'
    return precision

def _cpu_bf16():
    try: flags = Path('/proc/cpuinfo').read_text()
    except OSError: return False
    return 'avx512_bf16' in flags or 'amx_bf16' in flags

class BatchTimer(Callback):
    "Record the time after each training batch (lr_find included); stop the fit after `n` batches when `n` is set."
    order = 100
    def __init__(self, n=None): self.n, self.times = n, []
    def after_batch(self):
        if not self.training: return
        self.times.append(time.perf_counter())
        if self.n is not None and len(self.times) >= self.n: raise CancelFitException()
    def step_seconds(self, skip=2):
        "Median seconds per batch, skipping the first `skip` (warm-up)."
        t = np.diff(self.times[skip:]) if len(self.times) > skip + 2 else np.diff(self.times)
        return float(np.median(t)) if len(t) else float('nan')

class LowPrecisionDiverged(RuntimeError):
    "A non-finite training loss under CPU bf16 autocast; the caller retries in fp32."

class CPUAutocast(Callback):
    "bf16 autocast around the forward pass on the CPU (fastai's to_fp16/to_bf16 stay fp32 there)."
    order = 10
    def __init__(self, dtype=torch.bfloat16): store_attr(); self.ctx = None
    def before_batch(self): self.ctx = torch.autocast('cpu', dtype=self.dtype); self.ctx.__enter__()
    def after_pred(self): self._exit(); self.learn.pred = to_float(self.pred)
    def after_loss(self):
        if self.training and not hasattr(self, 'lr_finder') and not torch.isfinite(maybe_gather(self.loss.detach())).all():   # every rank agrees
            raise LowPrecisionDiverged('bf16 autocast gave a non-finite training loss')
    def _exit(self):
        if self.ctx is not None: self.ctx.__exit__(None, None, None); self.ctx = None
    def after_cancel_batch(self): self._exit()
    def after_fit(self): self._exit()

class ChannelsLastMemory(Callback):
    "Model and batches in channels_last memory format."
    order = 9
    def before_fit(self): self.learn.model.to(memory_format=torch.channels_last)
    def before_batch(self): self.learn.xb = tuple(x.contiguous(memory_format=torch.channels_last) if x.ndim == 4 else x for x in self.xb)

def small_size(size, scale):
    "The (H, W) of progressive resizing's first epochs: `size` times `scale`, each side a multiple of 8 (at least 32)."
    return tuple(max(32, int(round(s * scale / 8)) * 8) for s in size)

class ProgressiveResize(Callback):
    """Progressive resizing: the training batches of the first `epochs` epochs of a fit are scaled down to `size` (H, W)
    (antialiased bilinear, on the normalised batch); later epochs and every validation batch keep the input size.
    Skips lr_find unless `always` (then every training batch: to time the small steps)."""
    order = ChannelsLastMemory.order - 1
    def __init__(self, size, epochs=0, always=False): store_attr(); self.size = tuple(int(s) for s in size)
    def before_batch(self):
        if not self.training: return
        if not self.always and (hasattr(self.learn, 'lr_finder') or self.epoch >= self.epochs): return
        x = self.xb[0]
        if x.ndim == 4 and tuple(x.shape[-2:]) != self.size:
            x = torch.nn.functional.interpolate(x, size=self.size, mode='bilinear', antialias=True, align_corners=False)
            self.learn.xb = (x, *self.xb[1:])

class EarlyStop(EarlyStoppingCallback):
    """fastai's early stopping on `monitor`, skipping the epochs a resumed run skips; it runs after the epoch's
    checkpoint and history row are written, so the epoch that stops the fit is recorded too."""
    order = TrackerCallback.order + 3
    def __init__(self, *args, **kwargs): super().__init__(*args, **kwargs); self.resumed = None
    def before_fit(self):
        super().before_fit()
        if self.resumed is not None: self.best, self.wait = self.resumed   # a resumed run's (best, wait)
    def after_epoch(self):
        if not skipped(self.learn): super().after_epoch()

class EpochLines(Callback):
    "In place of fastai's progress bars off a terminal: a header, then one plain line per epoch; nothing in lr_find."
    order = 60
    def before_fit(self):
        self.quiet = hasattr(self.learn, 'lr_finder') or hasattr(self.learn, 'gather_preds')
        self.header, self.learn.logger = False, self.line
    def line(self, log):
        "Recorder's logger: print the epoch's values in columns."
        if self.quiet: return
        names = list(self.recorder.metric_names)
        if not self.header: print('  '.join(f'{n:>10s}' for n in names), flush=True); self.header = True
        print('  '.join(f'{v:>10.4f}' if isinstance(v, float) else f'{str(v):>10s}' for v in log), flush=True)

class ValidateLast(Callback):
    """Skip the validation pass of every epoch but the fit's last (its scores are logged as NaN): under val-as-train the
    validation people are trained on, so the per-epoch scores are no hold-out, and scoring them cost ~13% of each
    epoch (s2d 192x128, 2 cores). The last epoch is known when it starts, also after a `BudgetGuard` cut. Not in lr_find
    or get_preds."""
    order = Recorder.order + 1   # the Recorder has reset the metrics; it logs NaN in their place
    def before_validate(self):
        if hasattr(self.learn, 'lr_finder') or hasattr(self.learn, 'gather_preds') or skipped(self.learn): return
        if self.epoch < self.n_epoch - 1: raise CancelValidException()
    def after_validate(self):
        rec = self.recorder
        if not getattr(rec, 'cancel_valid', False) or not rec.valid_metrics: return
        rec.log += [float('nan')] * (len(rec.metric_names) - len(rec.log) - int(rec.add_time))
