"The weight average (--ema): the running average of the steps, seen by validation, kept, checkpointed and resumed."
import numpy as np, pandas as pd, pytest, torch, yaml
from torch import nn
from fastai.callback.core import Callback
from fastai.data.core import DataLoaders
from fastai.learner import Learner
from fastai.torch_core import set_seed
from conftest import TINY
from maskfast.learn.averaging import WeightAverage, ema_decay
from maskfast.learn.train import fit_run
import maskfast.learn.checkpoints as ckpt

class StepWeights(Callback):
    "Record the model's state after every optimizer step, and what validation saw."
    order = 20
    def __init__(self): self.steps, self.validated = [], []
    def after_step(self): self.steps.append({k: v.detach().clone() for k, v in self.model.state_dict().items()})
    def before_validate(self): self.validated.append({k: v.detach().clone() for k, v in self.model.state_dict().items()})

def _learner(cbs):
    set_seed(0, reproducible=True)
    x, y = torch.randn(96, 4), torch.randint(0, 2, (96,))
    ds = list(zip(x, y))
    dls = DataLoaders.from_dsets(ds, ds[:32], bs=16, device='cpu')
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
    return Learner(dls, model, loss_func=nn.CrossEntropyLoss(), cbs=cbs)

def _close(a, b): return all(torch.allclose(a[k].float(), b[k].float(), atol=1e-6) for k in a)

def test_weight_average_is_the_running_average_of_the_steps():
    plain = StepWeights()
    learn = _learner([plain]); learn.fit(3, 1e-2)
    rec, wa = StepWeights(), WeightAverage(epochs=1)
    learn = _learner([wa, rec])
    init = {k: v.clone() for k, v in learn.model.state_dict().items()}
    learn.fit(3, 1e-2)
    assert len(rec.steps) == 18 and wa.steps == 18                                    # 6 steps an epoch
    assert all(_close(a, b) for a, b in zip(plain.steps, rec.steps))                  # validation does not disturb training
    d, avg = ema_decay(1, 6), {k: v.float().clone() for k, v in init.items()}
    assert d == pytest.approx(1 - 1 / 6)
    for n, w in enumerate(rec.steps, 1):
        dn = min(d, (1 + n) / (10 + n))
        for k in avg:
            avg[k] = dn * avg[k] + (1 - dn) * w[k].float() if init[k].is_floating_point() else w[k].float()
        if n % 6 == 0: assert _close(avg, rec.validated[n // 6 - 1])                  # each epoch's validation saw the average
    final = learn.model.state_dict()
    assert _close(avg, final) and not _close(rec.steps[-1], final)                   # the average is kept, not the last step
    assert final['1.num_batches_tracked'] == rec.steps[-1]['1.num_batches_tracked']   # integer buffers follow the model
    learn.get_preds()                                                                 # prediction after the fit: no swap
    assert _close(avg, learn.model.state_dict())

def test_ema_needs_a_positive_span():
    with pytest.raises(ValueError, match='--ema -1'): ema_decay(-1, 10)

def test_ema_fit_keeps_the_average_and_resumes_it(twin, tmp_path, monkeypatch):
    opts = dict(data=str(twin), **{**TINY, 'epochs': 3}, ema=1.0)
    res = fit_run(out=str(tmp_path / 'full'), **opts)
    run = tmp_path / 'full'
    ck = torch.load(run / 'last.pth', weights_only=False)
    kept = torch.load(run / 'model.pth', weights_only=True)
    assert yaml.safe_load((run / 'args.yaml').read_text())['ema'] == 1.0 and res['holdout'] is False
    assert _close(ck['ema']['state'], kept) and not _close(ck['model'], kept)       # val-as-train keeps the average
    assert ck['epoch'] == 2 and ck['ema']['steps'] > 0 and ck['ema']['steps'] % 3 == 0   # 3 epochs of the same number of steps
    orig = ckpt.append_rows
    def dies_at_epoch_1(path, names, rows):
        if rows and rows[-1][0] == '1': raise KeyboardInterrupt('killed after the checkpoint, before the row')
        return orig(path, names, rows)
    monkeypatch.setattr(ckpt, 'append_rows', dies_at_epoch_1)
    with pytest.raises(KeyboardInterrupt): fit_run(out=str(tmp_path / 'k'), **opts)
    monkeypatch.setattr(ckpt, 'append_rows', orig)
    fit_run(resume=str(tmp_path / 'k'))
    a, b = pd.read_csv(run / 'history.csv'), pd.read_csv(tmp_path / 'k' / 'history.csv')
    assert list(b.epoch) == [0, 1, 2]
    for c in ('valid_loss', 'f1_macro', 'f1_gender'): assert np.allclose(a[c], b[c], atol=1e-5, equal_nan=True), c   # the average resumed
    assert b.f1_macro.isna().tolist() == [True, True, False]   # val-as-train: the last epoch scored, also when resumed
    assert _close(kept, torch.load(tmp_path / 'k' / 'model.pth', weights_only=True))
