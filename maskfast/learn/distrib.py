"""Multi-process training on fastai's `distrib_ctx` (torchrun / accelerate launch): ranks, the process group
(gloo on CPU, NCCL on GPUs), rank-0-first steps, and the fastai 2.8 patches for CPU, in one version-gated place."""
__all__ = ['world_size', 'rank', 'is_main', 'is_distributed', 'init_distributed', 'barrier', 'broadcast_object',
           'main_first', 'patch_fastai_distributed', 'distributed', 'close_distributed']

import os
from contextlib import contextmanager, nullcontext
import torch
import fastai

def world_size(): return int(os.environ.get('WORLD_SIZE', 1) or 1)
def rank(): return int(os.environ.get('RANK', 0) or 0)
def is_main(): return rank() == 0
def is_distributed(): return world_size() > 1

def init_distributed():
    "Join the process group torchrun / accelerate launch describe (env://): NCCL on CUDA, gloo on the CPU. No-op alone."
    if not is_distributed(): return None
    import torch.distributed as dist
    if torch.cuda.is_available(): torch.cuda.set_device(int(os.environ.get('LOCAL_RANK', 0)))
    if not dist.is_initialized():
        dist.init_process_group('nccl' if torch.cuda.is_available() else 'gloo', init_method='env://')
    patch_fastai_distributed()
    return dist.get_backend()

def close_distributed():
    "Leave the process group (every rank, at the end of a run)."
    if is_distributed() and torch.distributed.is_initialized(): torch.distributed.destroy_process_group()

def barrier():
    if is_distributed() and torch.distributed.is_initialized(): torch.distributed.barrier()

def broadcast_object(obj, src=0):
    "`obj` from rank `src` on every rank (pickled); `obj` itself when not distributed."
    if not (is_distributed() and torch.distributed.is_initialized()): return obj
    box = [obj]; torch.distributed.broadcast_object_list(box, src); return box[0]

@contextmanager
def main_first():
    "Rank 0 runs the block first (building caches, the twin), the other ranks after it, reusing what it wrote."
    if not is_main(): barrier()
    try: yield
    finally:
        if is_main(): barrier()

def _comm_device():
    "Device for collective tensors: CUDA under NCCL, CPU under gloo."
    nccl = torch.distributed.is_initialized() and torch.distributed.get_backend() == 'nccl'
    return torch.device('cuda', torch.cuda.current_device()) if nccl else torch.device('cpu')

def _broadcast(self, t, rank):
    "fastai's DistributedDL._broadcast without the hard-coded `.cuda()` (which breaks gloo on the CPU)."
    t = torch.tensor(t, dtype=torch.long, device=_comm_device())
    torch.distributed.broadcast(t, rank)
    return t.cpu().tolist()

def _wrap_dl(self, dl):
    "fastai's DistributedTrainer._wrap_dl without `model.device` (DistributedDataParallel on the CPU has none)."
    from fastai.distributed import DistributedDL
    return dl if isinstance(dl, DistributedDL) else DistributedDL(dl, device=next(self.learn.model.parameters()).device)

def _lr_finder_after_fit(self):
    """fastai's LRFinder.after_fit for several ranks: only rank 0 saved the pre-lr_find weights, so only it called
    `Learner.load`, whose barrier the other ranks never reached (a deadlock at the next collective). Every rank now
    meets that barrier, then takes rank 0's restored weights and drops its lr_find optimizer state."""
    self.learn.opt.zero_grad()
    tmp_f = self.path / self.model_dir / self.tmp_p / '_tmp.pth'
    if tmp_f.exists(): self.learn.load(f'{self.tmp_p}/_tmp', with_opt=True); self.tmp_d.cleanup()
    elif is_distributed(): barrier(); self.tmp_d.cleanup()
    if is_distributed():
        from .callbacks import unwrap
        for t in unwrap(self.learn.model).state_dict().values(): torch.distributed.broadcast(t, 0)
        if not is_main(): self.learn.opt.clear_state()

_PATCHED = []
def patch_fastai_distributed():
    """The fastai 2.8 fixes CPU training needs, applied once, only to the versions checked here:
    `DistributedDL._broadcast` (hard-coded `.cuda()`), `DistributedTrainer._wrap_dl` (reads `model.device`, which CPU
    DistributedDataParallel lacks) and `LRFinder.after_fit` (a barrier only rank 0 reaches). Handled where used
    instead: `sync_bn=False` and `cpu=True` on the CPU (`distributed`), and `get_preds` run by every rank inside the
    context (`fit_run`), since it gathers."""
    if _PATCHED: return
    major, minor = (int(v) for v in fastai.__version__.split('.')[:2])
    if (major, minor) != (2, 8):
        import warnings; warnings.warn(f'maskfast.distrib: patches were written for fastai 2.8, not {fastai.__version__}; not applied')
        return
    from fastai.distributed import DistributedDL, DistributedTrainer
    from fastai.callback.schedule import LRFinder
    DistributedDL._broadcast, DistributedTrainer._wrap_dl = _broadcast, _wrap_dl
    LRFinder.after_fit = _lr_finder_after_fit
    _PATCHED.append(True)

def distributed(learn):
    """`learn.distrib_ctx` when launched with several processes, a null context otherwise. On the CPU: no SyncBatchNorm
    (it needs CUDA) and accelerate's `cpu=True` (without it accelerate sees no distributed setup and does not wrap)."""
    if not is_distributed(): return nullcontext(learn)
    try: import accelerate  # noqa: F401
    except ImportError: raise ImportError("multi-process training needs accelerate: pip install 'maskfast[dist]'") from None
    import fastai.distributed  # noqa: F401  (patches Learner.distrib_ctx)
    init_distributed()
    gpu = torch.cuda.is_available()
    return learn.distrib_ctx(sync_bn=gpu, **({} if gpu else {'cpu': True}))   # accelerate wraps in DDP on CPUs only with cpu=True
