import numpy as np, pytest, torch
from maskfast.learn.losses import make_loss, SoftF1Loss, parse_loss
from maskfast.learn.models import (DetailMap, set_input_stats, blur3, fine_detail, to_probs18, build_model, check_arch, load_body_weights, WeightsError, body_module,
                                   size_multiple, model_stem)
from maskfast.data.labels import encode

@pytest.mark.parametrize('spec,head', [('ce', 'single'), ('wce', 'single'), ('smooth', 'single'), ('focal', 'single'),
                                       ('f1', 'single'), ('0.6*focal+0.4*f1', 'single'), ('ce', 'multi'),
                                       ('mask:ce;gender:smooth;age:0.6*focal+0.4*f1', 'multi')])
def test_losses_give_gradients(spec, head):
    n = 18 if head == 'single' else 8
    logits = torch.randn(32, n, requires_grad=True); y = torch.randint(0, 18, (32,))
    loss = make_loss(spec, head, class_weights=np.linspace(0.5, 2, 18))
    l = loss(logits, y); l.backward()
    assert l.ndim == 0 and torch.isfinite(l) and logits.grad.abs().sum() > 0
    p = loss.activation(logits.detach())
    assert p.shape == (32, 18) and torch.allclose(p.sum(1), torch.ones(32), atol=1e-5)

def test_a_task_not_named_in_a_per_task_loss_takes_ce():
    logits = torch.randn(32, 8); y = torch.randint(0, 18, (32,))
    named = make_loss('mask:ce;gender:ce;age:focal', 'multi')(logits, y)
    assert torch.allclose(make_loss('age:focal', 'multi')(logits, y), named)          # the --loss help's own form
    assert not torch.allclose(make_loss('ce', 'multi')(logits, y), named)

def test_a_single_task_model_reads_its_own_part_of_a_per_task_loss():
    logits = torch.randn(32, 3); y = torch.randint(0, 18, (32,))
    focal = make_loss('age:focal', task='age')(logits, y)
    assert torch.allclose(make_loss('focal', task='age')(logits, y), focal)
    assert not torch.allclose(make_loss('mask:focal', task='age')(logits, y), focal)   # age not named: ce
    assert torch.allclose(make_loss('mask:focal', task='age')(logits, y), make_loss('ce', task='age')(logits, y))
    with pytest.raises(ValueError, match="unknown task 'agee'"): make_loss('mask:ce;agee:focal', task='age')

def test_soft_f1_is_low_when_right():
    y = torch.arange(18).repeat(4)
    good, bad = torch.nn.functional.one_hot(y, 18).float() * 20, torch.nn.functional.one_hot((y + 1) % 18, 18).float() * 20
    f1 = SoftF1Loss(18)
    assert f1(good, y) < 0.01 and f1(bad, y) > 0.99

def test_multi_probs_factorise():
    logits = torch.zeros(1, 8); logits[0, 2] = 10; logits[0, 3] = 10; logits[0, 7] = 10   # normal, male, >=60
    assert to_probs18(logits).argmax().item() == encode(2, 0, 2)

def test_bad_specs():
    with pytest.raises(ValueError, match='unknown loss'): parse_loss('hinge')
    with pytest.raises(ValueError, match='close matches'): check_arch('resnet-34')
    with pytest.raises(ValueError, match='resnet34'): check_arch('resnt34')

@pytest.mark.parametrize('arch', ['resnet18', 'tv_resnet18'])
def test_heads_and_local_weights(arch, tmp_path):
    m1, m2 = build_model(arch, 'single'), build_model(arch, 'multi')
    x = torch.randn(2, 3, 64, 32)
    assert m1.eval()(x).shape == (2, 18) and m2.eval()(x).shape == (2, 8)
    if arch == 'resnet18':
        import timm; sd = timm.create_model('resnet18', num_classes=0).state_dict()
    else:
        import torchvision; sd = torchvision.models.resnet18().state_dict()
    torch.save(sd, tmp_path / 'w.pth')
    n = load_body_weights(m1, tmp_path / 'w.pth', arch)
    assert n > 50
    first = next(iter(m1[0].state_dict().values()))
    assert torch.equal(first, next(v for k, v in sd.items() if 'conv1' in k))
    torch.save({'nothing': torch.zeros(3)}, tmp_path / 'bad.pth')
    with pytest.raises(WeightsError, match='match'): load_body_weights(m1, tmp_path / 'bad.pth', arch)

@pytest.mark.parametrize('arch', ['resnet18', 'tv_resnet18'])
def test_space_to_depth_stem(arch, tmp_path):
    plain, s2d = build_model(arch, 'multi'), build_model(arch, 'multi', stem='s2d')
    convs = [next(m for m in body_module(m).modules() if isinstance(m, torch.nn.Conv2d)) for m in (plain, s2d)]
    assert [c.in_channels for c in convs] == [3, 12] and size_multiple('s2d') == 2 * size_multiple('plain') == 64
    assert [model_stem(plain), model_stem(s2d)] == ['plain', 's2d']
    x = torch.randn(2, 3, 128, 64)
    with torch.no_grad():   # the body sees the 2x2 blocks as channels: twice the side gives the plain model's feature map
        assert s2d[0](x).shape == plain[0](x[:, :, ::2, ::2]).shape and s2d.eval()(x).shape == (2, 8)
        y = x.clone(); y[:, :, 1::2, 1::2] += 1   # every pixel of a block reaches the output, not one in four
        assert not torch.allclose(s2d(x), s2d(y))
    if arch == 'resnet18':
        import timm; sd = timm.create_model('resnet18', num_classes=0).state_dict()
    else:
        import torchvision; sd = torchvision.models.resnet18().state_dict()
    torch.save(sd, tmp_path / 'w.pth')
    before = convs[1].weight.clone()
    n_plain = load_body_weights(plain, tmp_path / 'w.pth', arch)
    assert n_plain > 50 and load_body_weights(s2d, tmp_path / 'w.pth', arch) == n_plain - 1   # all but the 3-channel first conv
    assert torch.equal(convs[1].weight, before)
    with pytest.raises(ValueError, match="stem must be one of"): build_model(arch, stem='s2')

def test_detail_stem_sees_one_pixel_lines():
    m = build_model('resnet18', 'multi', stem='s2d-detail')
    conv = next(c for c in body_module(m).modules() if isinstance(c, torch.nn.Conv2d))
    assert conv.in_channels == 16 and model_stem(m) == 's2d-detail' and size_multiple('s2d-detail') == 64
    d = DetailMap().eval()   # running stats 0 / 1: the raw detail
    flat = torch.full((1, 3, 16, 16), 0.7); line = flat.clone(); line[:, :, 8, 2:14] -= 0.3   # a dark 1-px line
    ramp = torch.linspace(0, 1, 16).expand(1, 3, 16, 16)
    with torch.no_grad():
        assert d(flat).abs().max() < 1e-5 and d(ramp)[..., 1:-1].abs().max() < 1e-5   # no detail in flat or linear shading
        on = d(line)[0, 0]
        assert on[8, 4:12].max() < -0.14 and on[3].abs().max() < 1e-5                 # the line, and nothing far from it
        assert m.eval()(torch.randn(2, 3, 128, 64)).shape == (2, 8)
    assert not d.train()(line.expand(2, 3, 16, 16)).requires_grad   # no parameters: no gradient back through the first conv
    assert list(d.parameters()) == []
    from maskfast.learn.config import FitConfig, fit_input
    assert fit_input(FitConfig(stem='s2d-detail')) == ('s2d-detail', (192, 128))

def test_blur3_is_the_3x3_gaussian_convolution():
    g = torch.rand(3, 1, 13, 9)
    k = torch.tensor([1., 2., 1.]); k = (k[:, None] * k[None] / 16)[None, None]
    want = torch.nn.functional.conv2d(torch.nn.functional.pad(g, (1, 1, 1, 1), mode='replicate'), k)
    assert blur3(g).shape == g.shape and torch.allclose(blur3(g), want, atol=1e-6)

def test_fine_stem_keeps_a_line_at_full_contrast_wherever_it_falls():
    m = build_model('resnet18', 'multi', stem='s2d-fine')
    conv = next(c for c in body_module(m).modules() if isinstance(c, torch.nn.Conv2d))
    assert conv.in_channels == 20 and model_stem(m) == 's2d-fine' and size_multiple('s2d-fine') == 128
    d = DetailMap().eval()
    flat = torch.full((1, 3, 32, 32), 0.7)
    darkest, mean_colour = [], []
    for row in (16, 17):   # a dark 1-px line on an even row, then on an odd one: the 2x2 blocks split differently
        line = flat.clone(); line[:, :, row, 4:28] -= 0.3
        with torch.no_grad(): f = fine_detail(line, d)
        assert f.shape == (1, 5, 16, 16) and torch.allclose(f[:, :3], torch.nn.functional.avg_pool2d(line, 2))
        darkest.append(f[0, 3, 8, 4:12].min()); mean_colour.append(f[0, 0, 8, 4:12].min())
        assert f[0, 3, 2].abs().max() < 1e-5 and f[0, 4, 2].abs().max() < 1e-5   # nothing far from the line
    assert torch.allclose(darkest[0], darkest[1]) and darkest[0] < -0.14   # the same full dip on either row
    assert mean_colour[0] > 0.7 - 0.3 / 2 - 1e-6                           # where averaging halves it
    with torch.no_grad(): assert m.eval()(torch.randn(2, 3, 256, 128)).shape == (2, 8)
    from maskfast.learn.config import FitConfig, fit_input
    assert fit_input(FitConfig(stem='s2d-fine')) == ('s2d-fine', (384, 256))

def test_log_detail_reads_a_line_by_its_relative_darkness_on_any_skin_and_exposure():
    m = build_model('resnet18', 'multi', stem='s2d-fine-log')
    assert model_stem(m) == 's2d-fine-log' and size_multiple('s2d-fine-log') == 128
    mean, std = [0.5, 0.45, 0.4], [0.25, 0.2, 0.3]
    assert set_input_stats(m, mean, std) and not set_input_stats(build_model('resnet18', 'multi', stem='s2d-fine'), mean, std)
    assert torch.equal(m.state_dict()['0.detail.std'].flatten(), torch.tensor(std))   # saved with the weights: predict rebuilds it
    d, plain = m[0].detail.eval(), DetailMap().eval()
    m_, s_ = torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)
    dips, plain_dips = [], []
    for skin, exposure in ((0.8, 1.0), (0.3, 1.0), (0.8, 0.6)):   # light skin, dark skin, a darker photo of the light one
        raw = torch.full((1, 3, 16, 16), skin * exposure); raw[:, :, 8, 3:13] *= 1 - 0.35 * 0.5   # a line 17.5% darker
        with torch.no_grad(): dips.append(d((raw - m_) / s_)[0, 0, 8, 5:11]); plain_dips.append(plain((raw - m_) / s_)[0, 0, 8, 5:11])
        assert dips[-1].max() < -0.09   # half of log(0.825): the 3x3 blur keeps the other half
    assert all(torch.allclose(dips[0], x, atol=1e-5) for x in dips[1:])          # the same reading, whatever skin and exposure
    assert plain_dips[1].max() > plain_dips[0].min() / 2                            # where the difference detail halves or worse
    assert fine_detail(torch.randn(1, 3, 32, 32), d).shape == (1, 5, 16, 16)
    from maskfast.learn.config import FitConfig, fit_input
    assert fit_input(FitConfig(stem='s2d-fine-log')) == ('s2d-fine-log', (384, 256))

def test_safetensors_weights(tmp_path):
    import timm
    from safetensors.torch import save_file
    save_file(timm.create_model('resnet18', num_classes=0).state_dict(), tmp_path / 'w.safetensors')
    assert load_body_weights(build_model('resnet18'), tmp_path / 'w.safetensors', 'resnet18') > 50

def test_per_item_loss_for_top_losses():
    logits = torch.randn(6, 18); y = torch.randint(0, 18, (6,))
    per = make_loss('focal')(logits, y, reduction='none')
    assert per.shape == (6,) and torch.allclose(per, torch.nn.functional.cross_entropy(logits, y, reduction='none'), atol=1e-4)

def test_drop_path_drops_residual_branches_in_training_only():
    from timm.layers import DropPath
    plain, dropped = build_model('resnet18', 'multi', stem='s2d-fine'), build_model('resnet18', 'multi', stem='s2d-fine', drop_path=0.3)
    rates = [m.drop_prob for m in dropped.modules() if isinstance(m, DropPath)]
    assert len(rates) == 7 and rates == sorted(rates) and rates[-1] == pytest.approx(0.3)   # 8 blocks: the first one's rate 0, rising to 0.3
    assert not any(isinstance(m, DropPath) for m in plain.modules())
    assert plain.state_dict().keys() == dropped.state_dict().keys()                                     # a run's weights load without it
    x = torch.randn(4, 3, 128, 128); torch.manual_seed(0)
    dropped.train(); a, b = dropped(x), dropped(x)
    assert not torch.allclose(a, b)                                                                     # stochastic while training
    dropped.eval(); assert torch.equal(dropped(x), dropped(x))
    with pytest.raises(ValueError, match='--drop-path 1.0 is a probability'): build_model('resnet18', drop_path=1.0)
    with pytest.raises(ValueError, match="--drop-path needs a timm architecture; tv_resnet18 is torchvision's"): build_model('tv_resnet18', drop_path=0.1)

def test_drop_path_is_checked_before_a_fit_and_reaches_its_learner(twin, tmp_path, monkeypatch):
    import maskfast.learn.train as train
    from maskfast.learn.config import FitConfig
    from conftest import TINY
    with pytest.raises(ValueError, match='--drop-path -0.1 is a probability'): FitConfig(drop_path=-0.1)
    with pytest.raises(ValueError, match="tv_resnet34 is torchvision's \\(use resnet34\\)"): FitConfig(arch='tv_resnet34', drop_path=0.1)
    seen = []
    class Built(Exception): pass
    def spy(*a, **k): seen.append(k.get('drop_path')); raise Built
    monkeypatch.setattr(train, 'mask_learner', spy)
    with pytest.raises(Built): train.fit_run(data=str(twin), out=str(tmp_path / 'dp'), **TINY, drop_path=0.2)
    assert seen == [0.2]
