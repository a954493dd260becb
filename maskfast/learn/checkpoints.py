"""Checkpoints and the run's record. After every complete epoch: first one checkpoint (model, optimizer, random
states, smoothed loss, best score, the history so far), written atomically, then that epoch's row appended to
history.csv. A kill between the two leaves a checkpoint one row ahead, which `resume_from` appends; finished rows are
never rewritten, and the resumed epochs draw the same batches and log the same quantities as an uninterrupted run."""
__all__ = ['atomic_save', 'load_checkpoint', 'rng_state', 'set_rng_state', 'BestModelSaver', 'EpochCheckpoint',
           'ResumeState', 'resume_from', 'reconcile_history']

import os, random, time
from pathlib import Path
import numpy as np, torch
from fastcore.basics import store_attr
from fastai.callback.core import Callback
from fastai.callback.tracker import TrackerCallback
from .averaging import kept_state
from .callbacks import unwrap, skipped, EarlyStop
from ..data.augment import aug_rng_state, set_aug_rng_state

def atomic_save(obj, path):
    "torch.save to a temp file, then rename: a crash or full disk never leaves a half-written checkpoint."
    path = Path(path); tmp = path.with_name(path.name + '.tmp')
    torch.save(obj, tmp); os.replace(tmp, path)

def load_checkpoint(path):
    "Load a checkpoint written by `EpochCheckpoint` (model and optimizer state, epoch, history, random states)."
    return torch.load(path, map_location='cpu', weights_only=False)

def rng_state():
    "torch (CPU and CUDA), numpy and python random states."
    return {'torch': torch.get_rng_state(), 'numpy': np.random.get_state(), 'python': random.getstate(),
            'cuda': torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}

def set_rng_state(s):
    torch.set_rng_state(s['torch']); np.random.set_state(s['numpy']); random.setstate(s['python'])
    if s.get('cuda') is not None and torch.cuda.is_available(): torch.cuda.set_rng_state_all(s['cuda'])

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
        if skipped(self.learn): return
        super().after_epoch()
        if self.new_best:
            self.best_state = kept_state(self.learn)   # the weight average's when --ema runs: what was validated
            if self.fname: atomic_save(self.best_state, self.fname)
            self.best_epoch = self.epoch
        if self.fname and self.keep > 1: self._keep_best(float(self.recorder.values[-1][self.idx]))
    def _keep_best(self, score):
        "Save this epoch if it ranks among the `keep` best checkpoints on disk; delete the ones that drop out."
        folder = self.fname.parent / 'checkpoints'; folder.mkdir(exist_ok=True)
        kept = [(float(p.stem.rsplit(self.monitor, 1)[1]), p) for p in folder.glob(f'epoch*_{self.monitor}*.pth')]
        path = folder / f'epoch{self.epoch:03d}_{self.monitor}{score:.6f}.pth'
        ranked = sorted(kept + [(score, path)], key=lambda t: t[0], reverse=self.comp is np.greater)
        if any(p == path for _, p in ranked[:self.keep]): atomic_save(kept_state(self.learn), path)
        for _, p in ranked[self.keep:]: p.unlink(missing_ok=True)
    def after_fit(self):
        super().after_fit()
        if self.best_state is None and self.fname and self.fname.exists():   # a resumed run's earlier best
            self.best_state = torch.load(self.fname, map_location='cpu', weights_only=True)
        if self.best_state is not None: unwrap(self.learn.model).load_state_dict(self.best_state)

class EpochCheckpoint(Callback):
    """After every complete epoch (not in lr_find, not a skipped one): the checkpoint `fname` (atomic), then the
    epoch's row appended to `history` (flushed and fsynced). `aug`: the training augmentation, whose random state
    is checkpointed too."""
    order = BestModelSaver.order + 1   # after the Recorder built the row and the saver updated the best score
    def __init__(self, fname, history, saver=None, aug=None): store_attr(); self.rows = []
    def before_fit(self): self.run = not hasattr(self, 'lr_finder') and not hasattr(self, 'gather_preds')
    def after_epoch(self):
        if skipped(self.learn): return
        names = list(self.recorder.metric_names)
        self.rows.append([str(len(self.rows))] + [str(v) for v in self.recorder.log[1:]])   # numbered across fine_tune's two fits
        sl = self.recorder.smooth_loss
        wa = getattr(self.learn, 'weight_average', None)
        atomic_save({'model': unwrap(self.learn.model).state_dict(), 'opt': self.learn.opt.state_dict(), 'epoch': self.epoch,
                     'best': None if self.saver is None else float(self.saver.best),
                     'best_epoch': None if self.saver is None else self.saver.best_epoch,
                     'names': names, 'history': [list(r) for r in self.rows], 'smooth_loss': (sl.val.clone(), sl.count),
                     'rng': rng_state(), 'aug_rng': aug_rng_state(self.aug), 'time': time.time(),
                     'ema': None if wa is None else {'state': wa.state, 'steps': wa.steps}}, self.fname)
        append_rows(self.history, names, self.rows[-1:])
    def after_fit(self): self.run = True

def append_rows(path, names, rows):
    "Append history rows to `path` (the header first when the file is new), flushed to disk."
    path = Path(path); new = not path.exists() or path.stat().st_size == 0
    with open(path, 'a') as f:
        if new: f.write(','.join(names) + '\n')
        for r in rows: f.write(','.join(r) + '\n')
        f.flush(); os.fsync(f.fileno())

def reconcile_history(path, names, rows, last_epoch):
    """Make history.csv hold exactly the epochs 0..`last_epoch` of the checkpoint before a resume, without rewriting
    a finished row: a partial last line (killed mid-write) is cut, rows the checkpoint holds but the file lacks are
    appended. Rows beyond the checkpoint (only an older maskfast wrote a row before its checkpoint) are moved to
    history.lost.csv with a notice, since those epochs are trained again."""
    path = Path(path)
    text = path.read_text() if path.exists() else ''
    if text and not text.endswith('\n'): text = text[:text.rfind('\n') + 1]; _truncate(path, len(text.encode()))
    lines = text.splitlines()
    have = {}
    for i, line in enumerate(lines[1:], 1):
        e = line.split(',', 1)[0]
        if e.isdigit() and len(line.split(',')) == len(names): have.setdefault(int(e), i)
    beyond = sorted(e for e in have if e > last_epoch)
    if beyond or len(have) != len(lines) - 1:
        keep = [lines[0]] + [lines[i] for e, i in sorted(have.items()) if e <= last_epoch]
        lost = [lines[i] for i in range(1, len(lines)) if i not in {have[e] for e in have if e <= last_epoch}]
        print(f'notice: {path.name} held {len(lost)} row(s) with no checkpoint behind them (epochs trained again): '
              f'moved to {path.with_suffix(".lost.csv").name}')
        path.with_suffix('.lost.csv').write_text('\n'.join([lines[0] if lines else ','.join(names)] + lost) + '\n')
        tmp = path.with_name(path.name + '.tmp'); tmp.write_text('\n'.join(keep) + '\n'); os.replace(tmp, path)
        have = {e: i for e, i in have.items() if e <= last_epoch}
    append_rows(path, names, [r for r in rows if int(r[0]) not in have and int(r[0]) <= last_epoch])

def _truncate(path, n):
    with open(path, 'r+b') as f: f.truncate(n)

class ResumeState(Callback):
    "At the first epoch a resumed run trains: restore the random states, the augmentation's and the smoothed loss."
    order = 1
    def __init__(self, start_epoch, ck): store_attr()
    def before_train(self):
        if self.epoch != self.start_epoch or hasattr(self.learn, 'lr_finder'): return
        ck = self.ck
        if ck.get('rng') is not None: set_rng_state(ck['rng'])
        aug = getattr(self.dls.train, 'aug', None)
        if ck.get('aug_rng') is not None: set_aug_rng_state(aug, ck['aug_rng'])
        if ck.get('smooth_loss') is not None:
            sl = self.recorder.smooth_loss; sl.val, sl.count = ck['smooth_loss'][0].clone(), ck['smooth_loss'][1]

def resume_from(learn, run_dir, monitor='f1_macro'):
    """Load model, optimizer, best score and early-stopping state from RUN_DIR/last.pth, bring history.csv in line with
    it and add the `ResumeState` that restores random and loss state; returns the epoch to start from (0 = none)."""
    run_dir = Path(run_dir)
    if not (run_dir / 'last.pth').exists():
        print(f'notice: {run_dir} has no complete epoch yet (no last.pth): training from the start'); return 0
    ck = load_checkpoint(run_dir / 'last.pth')
    unwrap(learn.model).load_state_dict(ck['model']); learn.create_opt(); learn.opt.load_state_dict(ck['opt'])
    cbs = {type(cb).__name__: cb for cb in learn.cbs}
    saver = cbs.get('BestModelSaver')
    if saver is not None: saver.reset_on_fit, saver.best, saver.best_epoch = False, ck['best'], ck['best_epoch']
    rows = ck.get('history')
    if rows is None:   # a checkpoint from an older maskfast: rows from the file, no random states
        import pandas as pd
        h = pd.read_csv(run_dir / 'history.csv', dtype=str, keep_default_na=False)
        h = h[h['epoch'].str.isdigit() & (h['train_loss'] != '') & ~h['train_loss'].str.contains(':')]
        names, rows = list(h.columns), h.drop_duplicates('epoch', keep='first').values.tolist()
        print('notice: last.pth is from an older maskfast: the resumed epochs draw other batches than an uninterrupted run')
    else: names = ck['names']
    rec = cbs.get('EpochCheckpoint')
    if rec is not None:
        last = int(rows[-1][0]) if rows else -1
        reconcile_history(rec.history, names, rows, last)
        rec.rows = [list(r) for r in rows]
    stop = cbs.get('EarlyStop')
    if stop is not None: _restore_early_stop(stop, names, rows, monitor)
    wa = cbs.get('WeightAverage')
    if wa is not None and ck.get('ema') is not None: wa.state, wa.steps = ck['ema']['state'], ck['ema']['steps']
    elif wa is not None: print('notice: last.pth holds no weight average: --ema restarts it from the resumed weights')
    learn.add_cb(ResumeState(ck['epoch'] + 1, ck))
    print(f'resuming {run_dir} at epoch {ck["epoch"] + 1}')
    return ck['epoch'] + 1

def _restore_early_stop(stop, names, rows, monitor):
    "Replay the monitored values of the finished epochs through early stopping's rule (best and wait)."
    best, wait = None, 0
    i = names.index(monitor)
    for r in rows:
        v = float(r[i])
        if best is None or stop.comp(v - stop.min_delta, best): best, wait = v, 0
        else: wait += 1
    if best is not None: stop.reset_on_fit, stop.resumed = False, (best, wait)
