import json, numpy as np, pandas as pd, pytest, torch, yaml
from conftest import TINY
from maskfast.learn.train import fit_run
from maskfast.learn.runs import load_model, read_valid_preds

def test_run_folder_contents(trained):
    from pathlib import Path
    rd = Path(trained['run_dir'])
    for f in ('args.yaml', 'history.csv', 'model.pth', 'model.json', 'last.pth', 'confusion.png', 'report.txt',
              'valid_preds.csv', 'balance.png', 'result.json'):
        assert (rd / f).exists(), f
    args = yaml.safe_load((rd / 'args.yaml').read_text())
    assert args['arch'] == 'resnet18' and args['versions']['torch'] and args['epochs'] == 2
    hist = pd.read_csv(rd / 'history.csv')
    assert len(hist) == 2 and {'f1_macro', 'f1_mask', 'f1_gender', 'f1_age', 'acc18'} <= set(hist.columns)
    vp, probs = read_valid_preds(rd)
    assert np.allclose(probs.sum(1), 1, atol=1e-3) and vp.person.nunique() < len(vp)
    model, cfg = load_model(rd)
    assert cfg['size'] == [64, 32]
    assert 'macro F1' in (rd / 'report.txt').read_text()
    assert 0 <= trained['f1'] <= 1

def test_reproducible_history(twin, tmp_path):
    a = fit_run(data=str(twin), out=str(tmp_path / 'a'), **TINY)
    b = fit_run(data=str(twin), out=str(tmp_path / 'b'), **TINY)
    ha, hb = pd.read_csv(tmp_path / 'a' / 'history.csv'), pd.read_csv(tmp_path / 'b' / 'history.csv')
    assert np.allclose(ha.train_loss, hb.train_loss) and np.allclose(ha.valid_loss, hb.valid_loss)
    assert a['f1'] == b['f1']

class _Kill(Exception): pass

def test_resume_matches_uninterrupted_schedule(twin, tmp_path, monkeypatch):
    from fastai.callback.core import Callback
    from fastai.learner import Learner
    lrs = {}
    class RecordLR(Callback):
        order = 99
        def before_epoch(self): lrs.setdefault(self.learn.path.name, {})
        def after_batch(self):
            if self.training and not hasattr(self.learn, 'lr_finder'):
                lrs[self.learn.path.name].setdefault(self.epoch, self.opt.hypers[0]['lr'])
    class KillAfterEpoch1(Callback):
        order = 100
        def after_epoch(self):
            if (self.epoch == 0 and self.learn.path.name == 'killed' and not hasattr(self.learn, 'lr_finder')
                    and not hasattr(self.learn, 'skip_to_epoch')):
                raise _Kill('killed after epoch 1')
    orig = Learner.fit
    def fit(self, *a, **k):
        with self.added_cbs([RecordLR(), KillAfterEpoch1()]): return orig(self, *a, **k)
    monkeypatch.setattr(Learner, 'fit', fit)
    opts = dict(data=str(twin), **{**TINY, 'epochs': 3})
    fit_run(out=str(tmp_path / 'full'), **opts)
    with pytest.raises(_Kill): fit_run(out=str(tmp_path / 'killed'), **opts)
    assert not (tmp_path / 'killed' / 'model.json').exists() and (tmp_path / 'killed' / 'last.pth').exists()
    res = fit_run(resume=str(tmp_path / 'killed'))
    assert lrs['killed'] == pytest.approx(lrs['full'])
    assert len(pd.read_csv(tmp_path / 'killed' / 'history.csv')) == 3 and res['epochs'] == 3

def test_multi_head_fold_all(twin, tmp_path):
    from maskfast.learn.train import fit_folds
    res = fit_folds(data=str(twin), out=str(tmp_path / 'k'), **{**TINY, 'folds': 2}, head='multi', loss='focal')
    assert len(res['fold_f1']) == 2 and 0 <= res['oof_f1'] <= 1
    assert json.loads((tmp_path / 'k' / 'oof.json').read_text())['oof_f1'] == pytest.approx(res['oof_f1'])
    a, b = (pd.read_csv(tmp_path / 'k' / f'fold{i}' / 'valid_preds.csv') for i in (0, 1))
    assert not set(a.person) & set(b.person)
    assert all(json.loads((tmp_path / 'k' / f'fold{i}' / 'result.json').read_text())['holdout'] for i in (0, 1))  # no val-as-train

def test_wandb_offline(twin, tmp_path, monkeypatch):
    pytest.importorskip('wandb', reason="the 'wandb' extra is not installed: pip install -e '.[wandb]'")
    monkeypatch.setenv('WANDB_MODE', 'offline'); monkeypatch.setenv('WANDB_SILENT', 'true')
    fit_run(data=str(twin), out=str(tmp_path / 'w'), **TINY, wandb=True)
    import wandb; wandb.finish()
    assert list((tmp_path / 'w').rglob('*.wandb'))

def test_cli_errors(twin, tmp_path):
    import subprocess, sys
    r = subprocess.run([sys.executable, '-m', 'maskfast.fit', '--arch', 'resnet-34', '--data', str(twin)], capture_output=True, text=True)
    assert r.returncode != 0 and 'close matches' in r.stderr and 'Traceback' not in r.stderr
    r = subprocess.run([sys.executable, '-m', 'maskfast.fit', '--data', str(tmp_path)], capture_output=True, text=True)
    assert r.returncode != 0 and 'train/images' in r.stderr and 'Traceback' not in r.stderr

def test_plan_epochs_and_size_rounding(capsys):
    from maskfast.learn.budget import plan_epochs, check_size, warm_step_seconds
    # lr_find's first steps are the process's warm-up: the plan times the later half only
    from maskfast.learn.callbacks import BatchTimer
    def timer(times): t = BatchTimer(); t.times = list(times); return t
    times = np.cumsum([0.4] * 34 + [0.2] * 26)
    assert warm_step_seconds(timer(times)) == pytest.approx(0.2) and np.median(np.diff(times)) > 0.2
    assert warm_step_seconds(timer([0., 0.5, 1.0])) == pytest.approx(0.5) and np.isnan(warm_step_seconds(timer([1.0])))
    n, epoch_s = plan_epochs(budget_s=420, spent_s=30, step_s=0.25, n_train_batches=200, n_valid_batches=120, reserve_s=20)
    assert epoch_s == 0.25 * (200 + 24) and n == int((420 - 30 - 20) // 56)
    assert plan_epochs(60, 50, 1.0, 100, 0)[0] == 2          # never fewer than 2
    n, epoch_s = plan_epochs(420, 30, 0.25, 200, 120, reserve_s=20, valid_last=True)   # the validation pass paid once
    assert epoch_s == 0.25 * 200 and n == int((420 - 30 - 20 - 0.25 * 24) // 50) and n > int((420 - 30 - 20) // 56)
    assert check_size((128, 96)) == (128, 96) and capsys.readouterr().out == ''
    assert check_size((100, 70)) == (96, 64) and 'not divisible' in capsys.readouterr().out

class Clock:
    "A fake clock for BudgetGuard tests: `tick()` is a callback that makes every epoch take 10 fake seconds (or `seconds[epoch]`)."
    def __init__(self): self.t = 0.
    def __call__(self): return self.t
    def tick(self, seconds=None):
        from fastai.callback.core import Callback
        from maskfast.learn.budget import BudgetGuard
        clock = self
        class Tick(Callback):
            order = BudgetGuard.order - 1
            def after_epoch(self): clock.t += seconds[self.epoch] if seconds else 10
        return Tick()

def guarded(budget_s, **kw):
    "[EpochFraction, BudgetGuard] for a fit under `budget_s` fake seconds (the guard sizes the fit through the fraction)."
    from maskfast.learn.budget import BudgetGuard, EpochFraction
    fraction = EpochFraction(0)
    return [fraction, BudgetGuard(budget_s=budget_s, t0=0., quiet=True, fraction=fraction, **kw)]

def test_epoch_fraction_runs_the_one_cycle_schedule_over_a_fractional_length():
    from fastai.test_utils import synth_learner, synth_dbunch
    from fastai.callback.schedule import combined_cos
    from maskfast.learn.budget import EpochFraction, BudgetGuard, last_epoch
    assert [last_epoch(t) for t in (9.4, 9.0, 1.0, 0.5, 2.000001)] == [9, 8, 0, 0, 2]
    learn = synth_learner(data=synth_dbunch(n_train=2, n_valid=1, bs=2))   # 2 batches an epoch
    learn.fit_one_cycle(3, 1e-2, cbs=EpochFraction(2.5))                  # the loop's 3rd epoch trains 1 of its 2 batches
    sched = combined_cos(0.25, 1e-2 / 25, 1e-2, 1e-2 / 1e5)
    assert len(learn.recorder.values) == 3 and np.allclose(learn.recorder.lrs, [sched(p) for p in (0, .2, .4, .6, .8)])
    learn.fit_one_cycle(3, 1e-2, cbs=EpochFraction(3))                    # whole: fastai's own schedule
    ref = learn.recorder.lrs; learn.fit_one_cycle(3, 1e-2); assert np.allclose(ref, learn.recorder.lrs) and len(ref) == 6
    with pytest.raises(ValueError, match='EpochFraction'): learn.fit_one_cycle(2, 1e-2, cbs=BudgetGuard(budget_s=10, t0=0.))

def test_budget_guard_shortens_the_one_cycle_schedule():
    from fastai.test_utils import synth_learner, synth_dbunch
    from maskfast.learn.budget import EpochFraction
    clock = Clock(); Tick = clock.tick
    learn = synth_learner(data=synth_dbunch(n_train=2, n_valid=1, bs=2))   # 2 batches an epoch
    fraction, guard = guarded(45, clock=clock)
    learn.fit_one_cycle(8, 1e-2, cbs=[Tick(), fraction, guard])   # 8 epochs planned, 4.5 fit in 45s at 10s an epoch
    lrs = np.array(learn.recorder.lrs)
    assert len(learn.recorder.values) == 5 and guard.epochs == 4.5 and len(lrs) == 9   # the 5th epoch trains half its batches
    learn.fit_one_cycle(5, 1e-2, cbs=EpochFraction(4.5))        # a 4.5-epoch schedule from the start, for reference
    ref = np.array(learn.recorder.lrs)
    assert np.allclose(lrs[2:], ref[2:]) and not np.allclose(lrs[:2], ref[:2]) and lrs[-1] < lrs.max() / 10   # ends as 4.5 epochs' does
    clock.t = 0.
    learn.fit_one_cycle(3, 1e-2, cbs=[Tick(), *guarded(5, clock=clock)])
    assert len(learn.recorder.values) == 2 and len(learn.recorder.lrs) == 3   # over budget already: half an epoch more, not less
    clock.t = 0.; fraction, guard = guarded(32, clock=clock, plan=4)
    learn.fit_one_cycle(6, 1e-2, cbs=[clock.tick([10, 10, 15, 10, 10, 10]), fraction, guard])
    # 3.2 epochs fit; a slow 3rd epoch blows the budget, but the 0.2 left of the schedule is not lengthened to half an epoch
    assert guard.epochs == 3.2 and len(learn.recorder.values) == 4 and len(learn.recorder.lrs) == 7
    clock.t = 0.; fraction, fits = guarded(1000, clock=clock)
    learn.fit_one_cycle(3, 1e-2, cbs=[Tick(), fraction, fits])
    assert len(learn.recorder.values) == 3 and fits.epochs == 3   # within budget: the loop's length, no more
    with learn.added_cbs(guarded(0, clock=clock)):
        learn.lr_find(end_lr=1e-2, num_it=6, stop_div=False, show_plot=False)
    assert len(learn.recorder.lrs) == 6                       # lr_find's 3 epochs of 2 batches: not cut

def test_budget_guard_lengthens_a_plan_and_undoes_a_cut_by_the_later_pace():
    from fastai.test_utils import synth_learner, synth_dbunch
    from maskfast.learn.budget import epochs_with_room
    learn = synth_learner(data=synth_dbunch(n_train=2, n_valid=1, bs=2))   # 2 batches an epoch
    assert epochs_with_room(4) == 11 and epochs_with_room(12) == 27
    learn.fit_one_cycle(4, 1e-2); four = np.array(learn.recorder.lrs)
    learn.fit_one_cycle(6, 1e-2); six = np.array(learn.recorder.lrs)
    clock, changes = Clock(), []
    fraction, guard = guarded(95, clock=clock, plan=4, tail_s=5, on_cut=changes.append)
    learn.fit_one_cycle(6, 1e-2, cbs=[clock.tick(), fraction, guard])   # 4 planned; after the first 10s epoch 8 more fit in 95-5s
    lrs = np.array(learn.recorder.lrs)
    assert len(learn.recorder.values) == 6 and guard.epochs == 6 and changes == [6]   # up to the loop's 6, not 9
    assert np.allclose(lrs[:2], four[:2]) and np.allclose(lrs[-2:], six[-2:])   # began as 4 epochs, ended annealed as 6
    clock.t = 0.
    fraction, guard = guarded(95, clock=clock, plan=4, tail_s=50)
    learn.fit_one_cycle(6, 1e-2, cbs=[clock.tick(), fraction, guard])   # 35s left after the first epoch: 3.5 more
    assert len(learn.recorder.values) == 5 and guard.epochs == 4.5 and np.allclose(learn.recorder.lrs[:2], four[:2])
    clock.t = 0.
    fraction, guard = guarded(100, clock=clock, plan=4)
    changes = []; guard.on_cut = changes.append
    learn.fit_one_cycle(6, 1e-2, cbs=[clock.tick([25, 25, 5, 5, 5, 5]), fraction, guard])
    # two slow first epochs (the process's warm-up) keep the plan; the later pace lengthens it to the loop
    assert changes == [5.45, 6] and len(learn.recorder.values) == 6 and guard.epochs == 6
    clock.t = 0.
    fraction, guard = guarded(100, clock=clock, plan=6)
    changes = []; guard.on_cut = changes.append
    learn.fit_one_cycle(6, 1e-2, cbs=[clock.tick([30, 30, 10, 10, 10, 10]), fraction, guard])
    assert changes[0] < 4 and guard.epochs > changes[0] + 1   # cut on the slow first epochs, undone by the later ones
    clock.t = 0.
    fraction, guard = guarded(45, clock=clock, plan=8)
    learn.fit_one_cycle(6, 1e-2, cbs=[clock.tick(), fraction, guard])
    assert len(learn.recorder.values) == 5 and guard.epochs == 4.5   # a plan beyond the loop: the loop's length, cut as ever

def test_budget_guard_in_a_fit_records_the_epochs_trained(twin, tmp_path, monkeypatch, capsys):
    import maskfast.learn.budget as budget
    monkeypatch.setattr(budget, 'plan_epochs', lambda *a, **k: (5, 0.01))   # lr_find's estimate far too optimistic
    fit_run(data=str(twin), out=str(tmp_path / 'g'), **{**TINY, 'epochs': 0, 'quiet': False}, budget=1)
    out = capsys.readouterr().out
    assert 'for 5 epochs' in out and '1.5 epochs instead of 5' in out and 'plain stem at 64x32' in out
    assert len(pd.read_csv(tmp_path / 'g' / 'history.csv')) == 2   # the second epoch half-trained
    assert yaml.safe_load((tmp_path / 'g' / 'args.yaml').read_text())['run']['epochs'] == 1.5
    assert json.loads((tmp_path / 'g' / 'result.json').read_text())['epochs'] == 1.5
    fit_run(data=str(twin), out=str(tmp_path / 'f'), **{**TINY, 'epochs': 1.5})   # what --full and --resume replay
    hist = pd.read_csv(tmp_path / 'f' / 'history.csv')
    assert len(hist) == 2 and hist.train_loss.notna().all() and yaml.safe_load((tmp_path / 'f' / 'args.yaml').read_text())['run']['epochs'] == 1.5
    monkeypatch.setattr(budget, 'plan_epochs', lambda *a, **k: (4, 100.))   # far too pessimistic: the guard lengthens
    fit_run(data=str(twin), out=str(tmp_path / 'l'), **{**TINY, 'epochs': 0, 'quiet': False}, budget=600)
    out = capsys.readouterr().out
    assert 'for 4 epochs' in out and 'less than planned; 11 epochs instead of 4 (the one-cycle schedule lengthened' in out
    assert len(pd.read_csv(tmp_path / 'l' / 'history.csv')) == 11   # up to the loop's room, epochs_with_room(4)
    assert yaml.safe_load((tmp_path / 'l' / 'args.yaml').read_text())['run']['epochs'] == 11

def test_max_epochs_caps_what_the_budget_buys_and_the_guard_never_lengthens_past_it(twin, tmp_path, monkeypatch, capsys):
    from fastai.test_utils import synth_learner, synth_dbunch
    import maskfast.learn.budget as budget
    from maskfast.learn.config import FitConfig
    learn = synth_learner(data=synth_dbunch(n_train=2, n_valid=1, bs=2))   # 2 batches an epoch
    clock = Clock(); fraction, guard = guarded(95, clock=clock, plan=4, cap=5)
    learn.fit_one_cycle(9, 1e-2, cbs=[clock.tick(), fraction, guard])     # 9 would fit in 95s; the loop holds 9; the cap 5
    assert len(learn.recorder.values) == 5 and guard.epochs == 5
    monkeypatch.setattr(budget, 'plan_epochs', lambda *a, **k: (40, 0.01))   # a fast machine: 40 epochs would fit
    fit_run(data=str(twin), out=str(tmp_path / 'c'), **{**TINY, 'epochs': 0, 'quiet': False}, budget=600, max_epochs=2)
    out = capsys.readouterr().out
    assert 'for 2 epochs' in out and 'capped at 2 (--max-epochs), so the fit ends early: 40 would fit' in out
    assert len(pd.read_csv(tmp_path / 'c' / 'history.csv')) == 2 and 'lengthened' not in out
    assert yaml.safe_load((tmp_path / 'c' / 'args.yaml').read_text())['run']['epochs'] == 2
    assert FitConfig().max_epochs == budget.MAX_EPOCHS == 24
    with pytest.raises(ValueError, match='--max-epochs -1'): FitConfig(max_epochs=-1)

def test_validate_last_scores_only_the_last_epoch():
    from fastai.test_utils import synth_learner, synth_dbunch
    from fastai.callback.core import Callback
    from maskfast.learn.budget import BudgetGuard
    from maskfast.learn.callbacks import ValidateLast
    class CountValid(Callback):
        def before_fit(self): self.n = 0
        def after_batch(self): self.n += not self.training
    clock, count = Clock(), CountValid(); Tick = clock.tick
    learn = synth_learner(data=synth_dbunch(n_train=2, n_valid=3, bs=2))   # 2 training, 3 validation batches an epoch
    learn.fit_one_cycle(3, 1e-2, cbs=[ValidateLast(), count])
    vals = np.array(learn.recorder.values, float)
    assert count.n == 3 and vals.shape == (3, 2)                # one validation pass; each row still has every column
    assert np.isnan(vals[:2, 1]).all() and np.isfinite(vals[2]).all() and np.isfinite(vals[:, 0]).all()
    learn.fit_one_cycle(8, 1e-2, cbs=[Tick(), *guarded(45, clock=clock), ValidateLast(), count])
    vals = np.array(learn.recorder.values, float)               # cut to 4.5 epochs: the 5th, now the last, is validated
    assert count.n == 3 and len(vals) == 5 and np.isnan(vals[:4, 1]).all() and np.isfinite(vals[4, 1])
    assert np.isfinite(vals[:, 0]).all()                        # the half-trained last epoch keeps its training loss
    with learn.added_cbs([ValidateLast(), count]):
        preds, _ = learn.get_preds()
        assert len(preds) == 6 and count.n == 3                 # get_preds (a fresh count) is not skipped
        learn.lr_find(end_lr=1e-2, num_it=4, stop_div=False, show_plot=False)
        with_cb = learn.recorder.lrs
    learn.lr_find(end_lr=1e-2, num_it=4, stop_div=False, show_plot=False)
    assert with_cb == learn.recorder.lrs and len(with_cb) >= 4  # nor is lr_find disturbed

def test_val_as_train_fit_scores_the_last_epoch_only(twin, tmp_path, capsys):
    fit_run(data=str(twin), out=str(tmp_path / 'v'), **{**TINY, 'epochs': 3, 'quiet': False})
    assert 'scored after the last epoch only' in capsys.readouterr().out
    hist = pd.read_csv(tmp_path / 'v' / 'history.csv')
    assert len(hist) == 3 and hist.valid_loss[:2].isna().all() and hist.f1_macro[:2].isna().all()
    assert hist.iloc[2].notna().all() and hist.train_loss.notna().all()
    report = float((tmp_path / 'v' / 'report.txt').read_text().split()[2])
    assert report == pytest.approx(hist.f1_macro.iloc[2], abs=1e-4)   # the report scores the same last epoch
    fit_run(data=str(twin), out=str(tmp_path / 'e'), **{**TINY, 'epochs': 3}, valid_every_epoch=True)
    assert pd.read_csv(tmp_path / 'e' / 'history.csv').notna().all().all()
    fit_run(data=str(twin), out=str(tmp_path / 'h'), **{**TINY, 'epochs': 2}, train_all=False)   # a hold-out: every epoch
    assert pd.read_csv(tmp_path / 'h' / 'history.csv').notna().all().all()

def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    from maskfast.learn.checkpoints import atomic_save
    atomic_save({'w': torch.ones(3)}, tmp_path / 'last.pth')
    def broken_save(obj, f):
        open(f, 'wb').write(b'half a checkpoint'); raise OSError('No space left on device')
    monkeypatch.setattr(torch, 'save', broken_save)
    with pytest.raises(OSError, match='No space'): atomic_save({'w': torch.zeros(3)}, tmp_path / 'last.pth')
    monkeypatch.undo()
    assert torch.equal(torch.load(tmp_path / 'last.pth')['w'], torch.ones(3))

def test_fine_tune_with_local_weights_and_early_stop(twin, tmp_path):
    import timm
    torch.save(timm.create_model('resnet18', num_classes=0).state_dict(), tmp_path / 'w.pth')
    res = fit_run(data=str(twin), out=str(tmp_path / 'ft'), **{**TINY, 'epochs': 2}, weights=str(tmp_path / 'w.pth'), patience=1)
    args = yaml.safe_load((tmp_path / 'ft' / 'args.yaml').read_text())
    assert args['run']['norm'] == 'imagenet' and args['weights'].endswith('w.pth')
    hist = pd.read_csv(tmp_path / 'ft' / 'history.csv')   # the frozen epoch, then the unfrozen ones, numbered on
    assert 2 <= len(hist) <= 3 and list(hist.epoch) == list(range(len(hist))) and 0 <= res['f1'] <= 1

def test_keep_best_checkpoints(twin, tmp_path):
    res = fit_run(data=str(twin), out=str(tmp_path / 'k'), **{**TINY, 'epochs': 4, 'keep_best': 2})
    hist = pd.read_csv(tmp_path / 'k' / 'history.csv')
    files = sorted((tmp_path / 'k' / 'checkpoints').glob('*.pth'))
    assert len(files) == 2
    kept = sorted(float(f.stem.split('f1_macro')[1]) for f in files)
    assert np.allclose(kept, sorted(hist.f1_macro)[-2:], atol=1e-6)      # the two best epochs, the others deleted
    best = max(files, key=lambda f: float(f.stem.split('f1_macro')[1]))
    saved = torch.load(tmp_path / 'k' / 'model.pth', weights_only=True)
    if hist.f1_macro.max() > sorted(hist.f1_macro)[-2]:                   # no tie: model.pth is the top checkpoint
        top = torch.load(best, weights_only=True)
        assert all(torch.equal(saved[k], top[k]) for k in saved)
    assert res['f1'] == pytest.approx(hist.f1_macro.max(), abs=1e-6)

def test_no_cache_trains_the_same(twin, tmp_path):
    from maskfast.data.cache import cache_home
    kw = {**TINY, 'size': (64, 64)}
    before = set(cache_home().glob('**/*64x64*.u8'))
    a = fit_run(data=str(twin), out=str(tmp_path / 'nc'), cache=False, **kw)
    assert set(cache_home().glob('**/*64x64*.u8')) == before        # nothing cached
    b = fit_run(data=str(twin), out=str(tmp_path / 'c'), **kw)
    ha, hb = pd.read_csv(tmp_path / 'nc' / 'history.csv'), pd.read_csv(tmp_path / 'c' / 'history.csv')
    assert np.allclose(ha.train_loss, hb.train_loss) and np.allclose(ha.valid_loss, hb.valid_loss) and a['f1'] == b['f1']

def test_progressive_resize_scales_the_first_epochs_only(twin, tmp_path, monkeypatch):
    from fastai.callback.core import Callback
    from fastai.learner import Learner
    seen = []
    class RecordShape(Callback):
        order = 50   # after ProgressiveResize and channels_last, what the model gets
        def before_batch(self):
            if not hasattr(self.learn, 'lr_finder'): seen.append((self.epoch, self.training, tuple(self.xb[0].shape[-2:])))
    orig = Learner.fit
    def fit(self, *a, **k):
        with self.added_cbs(RecordShape()): return orig(self, *a, **k)
    monkeypatch.setattr(Learner, 'fit', fit)
    fit_run(data=str(twin), out=str(tmp_path / 'p'), **{**TINY, 'size': (64, 64), 'epochs': 3}, progressive=0.5, progressive_scale=0.5)
    train = {(e, s) for e, t, s in seen if t}
    assert train == {(0, (32, 32)), (1, (32, 32)), (2, (64, 64))}         # round(0.5 * 3) = 2 small epochs, then full size
    assert {s for e, t, s in seen if not t} == {(64, 64)}                  # validation (and get_preds) at the full size
    assert len(pd.read_csv(tmp_path / 'p' / 'history.csv')) == 3 and load_model(tmp_path / 'p')[1]['size'] == [64, 64]

def test_progressive_plan_times_the_small_steps(twin, tmp_path, capsys):
    from maskfast.learn.budget import plan_epochs, progressive_epochs
    from maskfast.learn.callbacks import small_size
    from maskfast.learn.config import FitConfig
    full = plan_epochs(420, 30, 0.25, 200, 120)
    half = plan_epochs(420, 30, 0.25, 200, 120, small_step_s=0.125, share=0.5)
    assert half[1] == pytest.approx(0.5 * (0.125 * 200 + 0.25 * 24) + 0.5 * 0.25 * 224) and half[0] > full[0]
    assert [progressive_epochs(0.5, 3), progressive_epochs(0.9, 2), progressive_epochs(0, 10), progressive_epochs(0.5, 24)] == [2, 1, 0, 12]
    assert small_size((128, 96), 0.75) == (96, 72) and small_size((64, 32), 0.5) == (32, 32)
    for bad in (dict(progressive=1.0), dict(progressive=-0.1), dict(progressive=0.5, progressive_scale=1.0)):
        with pytest.raises(ValueError, match='progressive'): FitConfig(**bad)
    # a budget-planned fit times the small steps in a second, short lr_find and says how many epochs are small
    fit_run(data=str(twin), out=str(tmp_path / 'b'), **{**TINY, 'epochs': 0, 'quiet': False}, budget=1, progressive=0.5)
    out = capsys.readouterr().out
    assert 'the first 1 at 48x32' in out and 'img/s)' in out
    assert yaml.safe_load((tmp_path / 'b' / 'args.yaml').read_text())['run']['epochs'] == 2

def test_bench_measures_every_speed_and_the_s2d_ratio(twin):
    from maskfast.experiments.bench import run_bench, BENCH_ROWS
    r = run_bench(twin, size=(64, 32), bs=8, steps=3, precision='fp32')
    assert all(r[k] > 0 for k, _ in BENCH_ROWS)
    assert r['s2d_ratio'] == pytest.approx(r['model_only_s2d'] / r['model_only']) and r['detail_ratio'] == pytest.approx(r['model_only_detail'] / r['model_only']) and r['fine_ratio'] == pytest.approx(r['model_only_fine'] / r['model_only']) and r['ratio'] == pytest.approx(r['end_to_end'] / r['model_only'])
    assert r['fused_ratio'] == pytest.approx(r['model_only_fine'] / r['model_only_fine_adam'])
    s = run_bench(twin, size=(128, 64), bs=8, steps=3, precision='fp32', stem='s2d')   # the s2d model end to end
    assert 'model_only_s2d' not in s and s['end_to_end'] > 0
