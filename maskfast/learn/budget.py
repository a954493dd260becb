"""The time budget: lr_find picks the learning rate and measures the step time that sizes the epochs to the budget;
BudgetGuard re-sizes the fit from the epochs' own time as they run, in epochs and a fraction (EpochFraction): shorter
when slower than planned, longer when faster, so the fit ends at the budget rather than at the last whole epoch."""
__all__ = ['check_size', 'valid_seconds', 'plan_epochs', 'epochs_with_room', 'progressive_epochs', 'warm_step_seconds',
           'valley_lr', 'plan_lr_and_epochs', 'EpochFraction', 'last_epoch', 'BudgetGuard', 'RESERVE_S', 'MAX_EPOCHS']

import time
import numpy as np, torch
from fastcore.basics import store_attr
from fastai.callback.core import Callback, CancelFitException, CancelTrainException
from fastai.callback.schedule import ParamScheduler
from .callbacks import BatchTimer, LowPrecisionDiverged, ProgressiveResize, EarlyStop, skipped
from .distrib import is_main, world_size, broadcast_object

RESERVE_S = 20   # seconds a budget-sized fit keeps for what follows its epochs: validation predictions, the run's files
MAX_EPOCHS = 24   # the most epochs a budget sizes (--max-epochs): at 900 people F1 fell past ~20 (README, "An epoch cap")

def check_size(size, multiple=32):
    "Round (H, W) to the model's stride multiple, with a notice."
    new = tuple(max(multiple, int(round(s / multiple)) * multiple) for s in size)
    if new != tuple(size): print(f'notice: --size {size[0]} {size[1]} is not divisible by {multiple}; using {new[0]} {new[1]}')
    return new

def valid_seconds(step_s, n_valid_batches):
    """Seconds of one validation pass from the seconds of a training step: a validation batch costs about 1/5 of a
    training step (measured: inference 611 img/s vs training 115 img/s, resnet18 128x96 on 2 cores)."""
    return step_s * n_valid_batches / 5

def plan_epochs(budget_s, spent_s, step_s, n_train_batches, n_valid_batches, reserve_s=RESERVE_S, lo=2, hi=40,
                small_step_s=None, share=0., valid_last=False):
    """(epochs, mean seconds an epoch) that fit the remaining time budget from measured seconds per train step and
    `valid_seconds`. Progressive resizing: a `share` of the epochs train at `small_step_s` a step (valid at full size).
    `valid_last`: only the last epoch validates (`ValidateLast`), so the validation pass is paid once."""
    train_step_s = share * small_step_s + (1 - share) * step_s if share and small_step_s else step_s
    valid_s = valid_seconds(step_s, n_valid_batches)
    epoch_s = train_step_s * n_train_batches + (0 if valid_last else valid_s)
    left = budget_s - spent_s - reserve_s - (valid_s if valid_last else 0)
    return int(np.clip(left // max(epoch_s, 1e-6), lo, hi)), epoch_s

def epochs_with_room(epochs):
    """The epoch loop a budget-planned fit starts with, so that its `BudgetGuard` can lengthen the planned `epochs` (to
    twice and 3 more: lr_find measured 58 and 113 img/s for the same input minutes apart, planned 7 where ~11 fitted).
    A loop longer than the fit costs nothing: the guard ends it with the schedule."""
    return 2 * epochs + 3

def progressive_epochs(share, epochs):
    "How many of `epochs` train on the small input under progressive resizing: the `share`, rounded, the last one never."
    return int(min(round(share * epochs), max(epochs - 1, 0))) if share else 0

def warm_step_seconds(timer):
    """A `BatchTimer`'s seconds per step over the later half of its steps: the first fit of a process (lr_find) runs
    its first ~30 steps up to 40% slower (warm-up; measured on 2 cores: lr_find median 0.274 s over all steps, its later
    half ~0.24 s, training 0.226 s), and timing them too planned ~15% of the budget away."""
    return timer.step_seconds(skip=len(timer.times) // 2)

def valley_lr(lrs, losses, n_it):
    "fastai's `valley` suggestion on the recorded lr_find curve (its trimming), or 0 when too few finite points."
    from fastai.callback.schedule import valley
    lrs, losses = lrs[n_it // 10:-5], losses[n_it // 10:-5]
    ok = np.isfinite(losses)
    if ok.sum() < 5: return 0.
    return valley(torch.tensor(lrs[ok]), torch.tensor(losses[ok]), n_it)[0]

def plan_lr_and_epochs(learn, dls, lr, epochs, budget, t0, from_weights=False, lr_png=None, quiet=False, progressive=None,
                       valid_last=False, max_epochs=MAX_EPOCHS):
    """(lr, epochs, tail seconds): lr_find chooses the learning rate when `lr` is None (floored at 3e-3 from scratch, 1e-4
    from weights) and its step time sizes the epochs to `budget` seconds since `t0` when `epochs` is 0; the tail is the
    last epoch's validation pass under `valid_last` (the other epochs skip theirs), which a `BudgetGuard` keeps free.
    Rank 0 decides.
    `progressive` = (share, small size): a share of the epochs trains on the small input, whose steps are timed too
    (16 more lr_find steps at a fixed lr; lr_find puts the weights back). `valid_last`: only the last epoch validates.
    `max_epochs`: the most epochs the budget sizes (0: no cap); the fit then ends before the budget, with a notice."""
    n_it = 60 if lr is None else 10
    lr_kw = {} if lr is None else {'start_lr': lr / 100, 'end_lr': lr}
    timer = BatchTimer()
    with learn.added_cbs(timer): learn.lr_find(num_it=n_it, show_plot=False, stop_div=True, suggest_funcs=(), **lr_kw)
    lrs, losses = np.array(learn.recorder.lrs, float), np.array([float(l) for l in learn.recorder.losses])
    if learn.precision == 'bf16' and not np.isfinite(losses[:max(3, len(losses) // 10)]).all():
        raise LowPrecisionDiverged('bf16 autocast gave NaN losses in lr_find')
    step_s = warm_step_seconds(timer)
    if lr is None:
        lo = 1e-4 if from_weights else 3e-3   # from scratch, valley is too timid (measured)
        lr = float(np.clip(valley_lr(lrs, losses, n_it), lo, 1e-2))
        if is_main() and lr_png:
            import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt
            learn.recorder.plot_lr_find(); plt.axvline(lr, color='red', ls='--', label=f'chosen {lr:.1e}')
            plt.legend(); plt.gcf().savefig(lr_png, dpi=80); plt.close('all')
    tail_s = 0.
    if not epochs:
        share, small = progressive or (0., None)
        small_step_s = _small_step_seconds(learn, lr, small) if share else None
        n_tr, n_va = (-(-len(dl) // world_size()) for dl in (dls.train, dls.valid))   # each rank runs its share of the batches
        fits, epoch_s = plan_epochs(budget, time.time() - t0, step_s, n_tr, n_va, small_step_s=small_step_s, share=share,
                                    valid_last=valid_last, hi=10**6)
        epochs = min(fits, max_epochs) if max_epochs else fits
        if valid_last: tail_s = valid_seconds(step_s, n_va)
        if not quiet: print(f'budget {budget:.0f}s: {epochs} epochs of ~{epoch_s:.0f}s (measured {1 / step_s * dls.bs:.0f} img/s' +
                            (f'; the first {progressive_epochs(share, epochs)} at {small[0]}x{small[1]}: {1 / small_step_s * dls.bs:.0f} img/s)'
                             if share else ')') + (f'; capped at {epochs} (--max-epochs), so the fit ends early: {fits} would fit'
                                                    if epochs < fits else ''))
    return broadcast_object((float(lr), int(epochs), float(tail_s)))

def _small_step_seconds(learn, lr, size, n_it=16):
    "Seconds per training step on inputs scaled to `size`, timed over the later half of `n_it` lr_find steps at lr/100."
    timer = BatchTimer()
    with learn.added_cbs([timer, ProgressiveResize(size, always=True)]):
        learn.lr_find(start_lr=lr / 100, end_lr=lr / 100, num_it=n_it, stop_div=False, show_plot=False, suggest_funcs=())
    return warm_step_seconds(timer)

class EpochFraction(Callback):
    """Run a one-cycle fit over a fractional number of epochs, `total` (9.4 say): the schedule's position is
    `(epoch + iter / n_iter) / total` instead of fastai's whole-epoch count, the loop ends after `ceil(total)` epochs, and
    the last of them stops training after its share of the batches (0.4 of them), then validates and checkpoints as
    usual. A `BudgetGuard` moves `total` as the epochs' time comes in; `--resume` and `--full` replay a recorded one.
    Skips lr_find."""
    order, run_valid = ParamScheduler.order - 1, False   # sets the position that the scheduler then reads
    def __init__(self, total): store_attr()
    def before_fit(self): self.active, self.ended = not hasattr(self.learn, 'lr_finder'), False
    def before_epoch(self):
        if self.active: self.learn.n_epoch = max(self.epoch + 1, last_epoch(self.total) + 1)
    def before_batch(self):
        if not self.active or skipped(self.learn): return
        if self.epoch >= last_epoch(self.total) and self.iter >= max(1, round((self.total - self.epoch) * self.n_iter)):
            self.ended = True; raise CancelTrainException()   # the last epoch's share is trained: on to its validation
        self.learn.pct_train = min((self.epoch + self.iter / self.n_iter) / self.total, 1.)
    def after_cancel_train(self):
        "The Recorder (order 50, before this) drops a cancelled epoch's training loss; a fraction's end keeps it."
        if self.ended and hasattr(self.learn, 'recorder'): self.recorder.cancel_train = False
        self.ended = False

def last_epoch(total):
    "The index of the last (possibly partial) epoch of a fit `total` epochs long (9.4 -> 9, 9.0 -> 8)."
    return max(int(np.ceil(round(total, 6))) - 1, 0)

class BudgetGuard(Callback):
    """Keep a budget-planned fit to `budget_s` seconds since `t0` from its epochs' measured time: lr_find's step time
    misjudges an epoch by up to ~50% on 2 cores (measured 60-117 img/s for the same input while its epochs ran steadily
    at ~80), and an epoch count spends the budget only to the last whole epoch that fits. After each epoch it sets the
    fit's length, in epochs and a fraction (`EpochFraction`, `fraction`), to what fits in the time left at the pace of
    the last `pace` epochs, keeping `tail_s` seconds for the last epoch's validation pass when only it validates and
    `reserve_s` for the work after the fit (`RESERVE_S` in a fit: its validation predictions and files): shorter when slower than planned, longer when faster, up to the loop's length (fastai fixes its epoch
    loop when the fit starts: a budget-planned fit starts with room, `epochs_with_room`). The first epochs of a process
    run slow (measured 40-47s where the later ones took 31-37s): their pace is replaced by the later epochs' as these
    come, so an early cut is undone. The one-cycle schedule still anneals to its end, and a change late in the fit moves
    its position little. Over budget, it keeps `min_left` of an epoch after the current one (or what is left of the
    schedule when less) to anneal in. Skips lr_find, resumed epochs
    and the first `skip` (progressive, smaller) epochs; never past `cap` epochs (`--max-epochs`). Rank 0 decides. `on_cut(total)` is called at each change (the
    run folder records it, so `--resume` trains that schedule); `epochs`: the fit's length once it ends."""
    order = EarlyStop.order + 1   # after the epoch's checkpoint, history row and early stopping
    def __init__(self, budget_s, t0, skip=0, quiet=False, on_cut=None, clock=time.time, plan=None, tail_s=0., reserve_s=0.,
                 pace=3, min_left=0.5, fraction=None, cap=None):
        store_attr(); self.epochs = None
    def before_fit(self):
        self.active = not hasattr(self.learn, 'lr_finder')
        self.seconds, self.loop = [], self.n_epoch                      # the epoch loop's length
        self.room = min(self.loop, self.cap or self.loop)               # the longest the fit may grow
        if self.active and self.fraction is None: raise ValueError('BudgetGuard needs the fit\'s EpochFraction (fraction=)')
        if self.active: self.fraction.total, self.shown = float(min(self.plan or self.n_epoch, self.n_epoch)), None
    def before_epoch(self): self.start = self.clock()
    def after_epoch(self):
        if not self.active or skipped(self.learn): return
        if self.epoch >= self.skip: self.seconds.append(self.clock() - self.start)
        total = self.fraction.total
        if self.epoch >= last_epoch(total):
            if self.epoch < self.loop - 1: raise CancelFitException()   # the schedule ends before the loop
            return
        if not self.seconds: return
        epoch_s = max(float(np.mean(self.seconds[-self.pace:])), 1e-6)
        free = self.budget_s - self.tail_s - self.reserve_s - (self.clock() - self.t0)
        floor = min(total, self.epoch + 1 + self.min_left)   # never shorter than this, never lengthened by it
        new = broadcast_object(float(np.clip(max(self.epoch + 1 + free / epoch_s, floor), 1, self.room)) if is_main() else None)
        if abs(new - total) < 0.05: return
        self.fraction.total = round(new, 2)
        if self.on_cut: self.on_cut(self.fraction.total)
        if not self.quiet and (self.shown is None or abs(self.fraction.total - self.shown) >= 0.5):
            print(f'budget {self.budget_s:.0f}s: epochs take ~{epoch_s:.0f}s, ' + ('less' if new > total else 'more') +
                  f' than planned; {self.fraction.total:g} epochs instead of {total:g} (the one-cycle schedule '
                  + ('lengthened)' if new > total else 'shortened)'), flush=True)
            self.shown = self.fraction.total
    def after_fit(self):
        if self.active: self.epochs = self.fraction.total
