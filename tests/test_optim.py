"The fused Adam: fastai's Adam update (groups, lrs, no decay on norm and bias, momentum schedule, state) by torch's kernel."
import copy
import torch
from fastai.optimizer import Adam, Optimizer
from maskfast.learn import optim
from maskfast.learn.optim import FusedAdam, adam_opt, fused_adam_works

def _params(seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=g).requires_grad_() for shape in ((4, 3), (4,), (5, 4), (5,), (2, 2))]

def _grads(i, seed=1):
    g = torch.Generator().manual_seed(seed + i)
    return [torch.randn(shape, generator=g) * 10 ** -(k % 3) for k, shape in enumerate(((4, 3), (4,), (5, 4), (5,), (2, 2)))]

def _opt(cls, params):
    o = cls([params[:2], params[2:]], lr=1e-2)   # two groups, as fastai's splitter gives
    o.set_hypers(lr=[1e-3, 1e-2]); o.set_hyper('wd', 0.1)
    for p in (params[1], params[3]): o.state[p]['do_wd'] = False   # the biases, as Learner(wd_bn_bias=False) marks them
    return o

def _steps(o, params, steps):
    for i in steps:
        o.set_hyper('mom', 0.95 - 0.01 * i)   # one-cycle moves the momentum every step
        for p, g in zip(params, _grads(i)): p.grad = g.clone()
        params[4].grad = None                  # a frozen parameter: no gradient, not stepped
        o.step(); o.zero_grad()

def test_fused_adam_steps_as_fastai_adam():
    ref, new = _params(), _params()
    _steps(_opt(Adam, ref), ref, range(4)); o = _opt(FusedAdam, new); _steps(o, new, range(4))
    for a, b, p0 in zip(ref, new, _params()):
        assert torch.allclose(a, b, atol=1e-6), (a - b).abs().max()   # rounding apart; no decay on a bias would differ ~1e-4
        assert not torch.equal(a, p0) or a is ref[4]
    assert torch.equal(new[4], _params()[4])
    assert o.state[new[0]]['step'] == 4 and set(o.state[new[0]]) >= {'grad_avg', 'sqr_avg', 'step'} and o.state[new[4]] == {}

def test_fused_adam_continues_from_fastai_adams_state():
    "A checkpoint written under either optimizer resumes under the other (fastai's state names)."
    ref, new = _params(), _params()
    a = _opt(Adam, ref); _steps(a, ref, range(2))
    with torch.no_grad():
        for p, q in zip(new, ref): p.copy_(q)
    b = _opt(FusedAdam, new); b.load_state_dict(copy.deepcopy(a.state_dict()))   # a copy, as a checkpoint file gives
    _steps(a, ref, range(2, 5)); _steps(b, new, range(2, 5))
    assert all(torch.allclose(p, q, atol=1e-6) for p, q in zip(ref, new)) and b.state[new[2]]['step'] == 5

def test_adam_opt_is_fused_unless_told_or_unable(monkeypatch, capsys):
    assert fused_adam_works() and adam_opt() is FusedAdam and adam_opt(fused=False) is Adam
    monkeypatch.setattr(optim, 'fused_adam_works', lambda device='cpu': False)   # a torch without the CPU kernel (< 2.4)
    assert adam_opt() is Adam and 'no fused AdamW kernel for cpu' in capsys.readouterr().out

def test_the_fit_steps_with_the_fused_adam_unless_no_fused_adam(items):
    from maskfast.data.block import mask_dataloaders
    from maskfast.data.splits import fold_indices
    from maskfast.learn.learner import mask_learner
    from maskfast.learn.config import FitConfig, parse_cli
    from maskfast import fit as fit_cli
    df, caches = items
    tr, va = fold_indices(df, 0, 4)
    dls = mask_dataloaders(df, caches, tr, va, bs=8)
    for fused in (True, False):
        learn = mask_learner(dls, 'resnet18', precision='fp32', quiet=True, fused_adam=fused)
        learn.create_opt()
        assert type(learn.opt) is (FusedAdam if fused else Optimizer)   # fastai's Adam is an Optimizer with its callbacks
        bn = next(m for m in learn.model.modules() if isinstance(m, torch.nn.BatchNorm2d))
        assert learn.opt.state[bn.weight].get('do_wd') is False    # fastai's no decay on norm parameters holds for both
    assert FitConfig().fused_adam and parse_cli(fit_cli.parser(), ['--no-fused-adam']) == {'fused_adam': False}
