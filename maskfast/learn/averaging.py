"""An exponential moving average of the weights (timm's ModelEmaV3, as a fastai callback): updated after every
optimizer step, swapped in for validation, saved by the best-model saver and the checkpoints, and kept at the end."""
__all__ = ['WeightAverage', 'ema_decay', 'kept_state']

import torch
from fastcore.basics import store_attr
from fastai.callback.core import Callback
from .callbacks import unwrap, skipped
from .distrib import is_main

def ema_decay(epochs, steps_per_epoch):
    "The per-step decay whose average spans about `epochs` epochs of `steps_per_epoch` steps (time constant 1 / (1 - decay))."
    if epochs <= 0: raise ValueError(f'--ema {epochs}: the span of the average in epochs must be > 0 (0 turns it off)')
    return 1 - 1 / max(1., epochs * steps_per_epoch)

class WeightAverage(Callback):
    """The weights averaged over about the last `epochs` epochs of a fit. Every float tensor of the state dict (BatchNorm
    statistics too) moves toward the model's after each optimizer step; the first steps warm up (decay
    min(d, (1 + n) / (10 + n)), as in timm). Validation sees the average; at the end of the fit the model keeps it.
    Skips lr_find and prediction."""
    order = 8   # before channels_last (9) and autocast (10); only after_step / validation / fit events are used
    def __init__(self, epochs=2.): store_attr(); self.state, self.steps, self.fitting, self.raw = None, 0, False, None
    def before_fit(self):
        self.run = not hasattr(self.learn, 'lr_finder') and not hasattr(self.learn, 'gather_preds')
        if not self.run: return
        self.decay = ema_decay(self.epochs, len(self.dls.train))
        if self.state is None: self.state = self._model_state(clone=True)   # a resumed run set it already
        self.floats = [k for k, v in self.state.items() if v.is_floating_point()]   # averaged; the rest follow the model
        self.others = [k for k, v in self.state.items() if not v.is_floating_point()]
        self.raw, self.fitting = None, True
    def _model_state(self, clone=False):
        sd = unwrap(self.learn.model).state_dict()
        return {k: v.detach().clone() for k, v in sd.items()} if clone else sd
    @torch.no_grad()
    def after_step(self):
        if not self.training or skipped(self.learn): return
        self.steps += 1
        d = min(self.decay, (1 + self.steps) / (10 + self.steps))
        own = self._model_state()
        torch._foreach_lerp_([self.state[k] for k in self.floats], [own[k] for k in self.floats], 1 - d)
        for k in self.others: self.state[k].copy_(own[k])
    def before_validate(self):
        if not self.fitting or skipped(self.learn): return   # get_preds / validate outside a fit: the model as it is
        self.raw = self._model_state(clone=True); self._load(self.state)
    def after_validate(self):
        if self.raw is not None: self._load(self.raw); self.raw = None
    def after_fit(self):
        if self.raw is not None: self._load(self.raw); self.raw = None   # a fit cancelled inside validation
        self._load(self.state); self.fitting = False
        if is_main(): print(f'kept the weight average over about the last {self.epochs:g} epochs ({self.steps} steps averaged)')
    def _load(self, sd): unwrap(self.learn.model).load_state_dict(sd)

def kept_state(learn):
    "The weights a run keeps: the weight average's when a `WeightAverage` runs, else the model's (detached copies)."
    wa = getattr(learn, 'weight_average', None)   # fastai names each added callback on the Learner
    sd = wa.state if wa is not None and wa.state is not None else unwrap(learn.model).state_dict()
    return {k: v.detach().clone() for k, v in sd.items()}
