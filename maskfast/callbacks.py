"""Callbacks: CPU autocast, channels_last, best-model and per-epoch checkpoints (atomic), a time budget."""
__all__ = ['unwrap', 'EarlyStop', 'BatchTimer', 'LowPrecisionDiverged', 'CPUAutocast', 'ChannelsLast', 'BestModelSaver', 'EpochCheckpoint', 'atomic_save', 'load_checkpoint',
           'pick_precision']

import os, time
from pathlib import Path
import numpy as np, torch
from fastcore.basics import store_attr
from fastai.callback.core import Callback, CancelFitException
from fastai.callback.tracker import TrackerCallback, EarlyStoppingCallback
from fastai.torch_core import to_float, maybe_gather
from torch.nn.parallel import DistributedDataParallel, DataParallel

def atomic_save(obj, path):
    "torch.save to a temp file, then rename: a crash or full disk never leaves a half-written checkpoint."
    path = Path(path); tmp = path.with_name(path.name + '.tmp')
    torch.save(obj, tmp); os.replace(tmp, path)

def load_checkpoint(path):
    "Load a checkpoint written by `EpochCheckpoint` (model and optimizer state, epoch)."
    return torch.load(path, map_location='cpu', weights_only=False)

def unwrap(model):
    "The model inside a (Distributed)DataParallel wrapper: its state dict has no `module.` prefix."
    return model.module if isinstance(model, (DistributedDataParallel, DataParallel)) else model

def _skipped(learn):
    "True while fastai's SkipToEpoch (resume) is skipping the current epoch."
    s = getattr(learn, 'skip_to_epoch', None)
    return s is not None and learn.epoch < s._skip_to

def pick_precision(precision='auto', device=None):
    "Resolve 'auto'|'fp32'|'bf16'|'fp16' for the device, with a one-line notice when it falls back."
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

class ChannelsLast(Callback):
    "Model and batches in channels_last memory format."
    order = 9
    def before_fit(self): self.learn.model.to(memory_format=torch.channels_last)
    def before_batch(self): self.learn.xb = tuple(x.contiguous(memory_format=torch.channels_last) if x.ndim == 4 else x for x in self.xb)

class BestModelSaver(TrackerCallback):
    """Keep the model's state when `monitor` improves (in memory, and as a state dict in `fname` when given: rank 0
    of a distributed run); load the best back after fit. With `keep` > 1, also keep the `keep` best epochs as
    `checkpoints/epoch{E}_{monitor}{score}.pth` next to `fname`, deleting those that fall out (timm's CheckpointSaver)."""
    order = TrackerCallback.order + 1
    def __init__(self, fname=None, monitor='f1_macro', comp=np.greater, best=None, keep=1):
        super().__init__(monitor=monitor, comp=comp, reset_on_fit=best is None)
        self.fname, self.best_epoch, self.best_state, self.keep = fname and Path(fname), None, None, keep
        if best is not None: self.best = best
    def after_epoch(self):
        if _skipped(self.learn): return
        super().after_epoch()
        if self.new_best:
            self.best_state = {k: v.detach().clone() for k, v in unwrap(self.learn.model).state_dict().items()}
            if self.fname: atomic_save(self.best_state, self.fname)
            self.best_epoch = self.epoch
        if self.fname and self.keep > 1: self._keep_best(float(self.recorder.values[-1][self.idx]))
    def _keep_best(self, score):
        "Save this epoch if it ranks among the `keep` best checkpoints on disk; delete the ones that drop out."
        folder = self.fname.parent / 'checkpoints'; folder.mkdir(exist_ok=True)
        kept = [(float(p.stem.rsplit(self.monitor, 1)[1]), p) for p in folder.glob(f'epoch*_{self.monitor}*.pth')]
        path = folder / f'epoch{self.epoch:03d}_{self.monitor}{score:.6f}.pth'
        ranked = sorted(kept + [(score, path)], key=lambda t: t[0], reverse=self.comp is np.greater)
        if any(p == path for _, p in ranked[:self.keep]): atomic_save(unwrap(self.learn.model).state_dict(), path)
        for _, p in ranked[self.keep:]: p.unlink(missing_ok=True)
    def after_fit(self):
        super().after_fit()
        if self.best_state is None and self.fname and self.fname.exists():   # a resumed run's earlier best
            self.best_state = torch.load(self.fname, map_location='cpu', weights_only=True)
        if self.best_state is not None: unwrap(self.learn.model).load_state_dict(self.best_state)

class EarlyStop(EarlyStoppingCallback):
    "fastai's early stopping on `monitor`, skipping the epochs a resumed run skips."
    def after_epoch(self):
        if not _skipped(self.learn): super().after_epoch()

class EpochCheckpoint(Callback):
    "After every complete epoch, save model + optimizer state + epoch + best score to `fname` (atomic); skip in lr_find."
    order = BestModelSaver.order + 1
    def __init__(self, fname, saver=None): store_attr()
    def before_fit(self): self.run = not hasattr(self, 'lr_finder') and not hasattr(self, 'gather_preds')
    def after_epoch(self):
        if _skipped(self.learn): return
        atomic_save({'model': unwrap(self.learn.model).state_dict(), 'opt': self.learn.opt.state_dict(), 'epoch': self.epoch,
                     'best': None if self.saver is None else float(self.saver.best),
                     'best_epoch': None if self.saver is None else self.saver.best_epoch, 'time': time.time()}, self.fname)
    def after_fit(self): self.run = True
