"Issue 10's training options: same-label mixing, age heads, --full, recipes, grouping purity, the twin's ceiling."
import json
import numpy as np, pandas as pd, pytest, torch
import torch.nn.functional as F
from conftest import TINY
from maskfast.data.mixing import SameLabelMix

def test_cutmix_pairs_only_same_labels():
    rng = np.random.default_rng(0)
    labels = np.array([0, 5, 5, 17, 0, 9])
    imgs = np.stack([np.full((8, 10, 3), l, np.uint8) for l in labels])      # each image painted with its label
    asked = []
    def partner(label, rng): asked.append(label); return np.full((8, 10, 3), 100 + label, np.uint8)
    cut, old = SameLabelMix(cutmix=1.0)(imgs, labels, np.zeros(6, int), partner, rng)
    assert list(cut) == list(range(6)) and len(old) == 0 and asked == list(labels)
    for i, l in enumerate(labels):
        cols = imgs[i, 0, :, 0]
        assert set(cols) == {l, 100 + l} and (cols[:4] == l).all() and (cols[-4:] == 100 + l).all()   # split at 46-54%

def test_mixup_touches_only_old_photos():
    imgs = np.zeros((4, 4, 4, 3), np.uint8)
    _, old = SameLabelMix(mixup_old=1.0)(imgs, np.array([2, 5, 8, 17]), np.array([2, 2, 2, 0]) * [1, 1, 1, 1],
                                         lambda l, r: np.full((4, 4, 3), 200, np.uint8), np.random.default_rng(0))
    assert list(old) == [0, 1, 2] and imgs[3].max() == 0 and (imgs[:3] > 0).all() and (imgs[:3] < 200).all()

def test_loader_partners_share_the_label(items):
    from maskfast.data.block import mask_dataloaders
    from maskfast.data.splits import fold_indices
    df, caches = items
    tr, va = fold_indices(df, 0, 4)
    dls = mask_dataloaders(df, caches, tr, va, preset='none', bs=8, seed=0, mixing=SameLabelMix(cutmix=1.0))
    dl, labels = dls.train, dls.train.dataset.items['label'].to_numpy()
    rows = dl.dataset.items['row'].to_numpy()
    rng = np.random.default_rng(1)
    for lab in np.unique(labels)[:5]:
        img = dl.partner(lab, rng)
        match = [i for i in np.flatnonzero(labels == lab) if (caches[0].read([rows[i]])[0] == img).all()]
        assert match, f'partner of label {lab} is not an image of that label'
    x = dl.gather(np.arange(8), augment=True, rng=np.random.default_rng(2))
    assert not (x == caches[0].read(rows[:8])).all()            # mixed
    assert (dls.valid.gather(np.arange(8)) == caches[0].read(dls.valid.dataset.items['row'].to_numpy()[:8])).all()

@pytest.mark.parametrize('age_head', ['ordinal', 'regression', 'hybrid', 'class-ordinal'])
def test_age_heads_learn_from_the_age(age_head):
    from maskfast.learn.losses import make_loss
    from maskfast.learn.models import head_outputs
    from maskfast.learn.age_heads import age_group_probs
    n = head_outputs('multi', 'all', age_head)
    logits = torch.randn(16, n, requires_grad=True)
    y, age = torch.randint(0, 18, (16,)), torch.randint(18, 61, (16,))
    age[0] = -1                                                   # unknown age (a pseudo label): left out
    loss = make_loss('ce', 'multi', age_head=age_head)
    l = loss(logits, y, age); l.backward()
    assert torch.isfinite(l) and logits.grad[:, 5:].abs().sum() > 0
    if age_head in ('hybrid', 'class-ordinal'):                   # both targets train: the groups and the age's own output
        assert logits.grad[:, 5:8].abs().sum() > 0 and logits.grad[:, 8:].abs().sum() > 0
        assert logits.grad[0, 8:].abs().sum() == 0                # not the age output of an unknown age
        assert logits.grad[0, 5:8].abs().sum() > 0                # its group still trains (a pseudo label's group)
    p = loss.activation(logits.detach())
    assert p.shape == (16, 18) and torch.allclose(p.sum(1), torch.ones(16), atol=1e-4)
    # an age far inside a group gets that group
    sure = torch.zeros(3, n - 5)
    if age_head == 'ordinal':
        for i, a in enumerate((20, 45, 60)): sure[i] = torch.where(torch.arange(19, 61) <= a, 20., -20.)
    elif age_head == 'class-ordinal':                             # the groups decide; thresholds saying otherwise change nothing
        sure[:, :3] = torch.tensor([[9., 0., 0.], [0., 9., 0.], [0., 0., 9.]])
        for i, a in enumerate((60, 20, 45)): sure[i, 3:] = torch.where(torch.arange(19, 61) <= a, 20., -20.)
        assert torch.allclose(age_group_probs(sure, age_head), torch.softmax(sure[:, :3], -1))
    else: sure[:, -2], sure[:, -1] = (torch.tensor([20., 45., 62.]) - 39) / 12, -2.
    if age_head == 'hybrid':                                      # >=60 from the group logits, the rest from the regression
        sure[:, :3] = torch.tensor([[0., 0., -9.], [0., 0., -9.], [0., 0., 9.]])
        p_old = torch.softmax(sure[:, :3], -1)[:, 2]
        assert torch.allclose(age_group_probs(sure, age_head)[:, 2], p_old)
        reg_only = sure.clone(); reg_only[2, 3] = (45. - 39) / 12   # an old group call stays old whatever the regression says
        assert age_group_probs(reg_only, age_head)[2].argmax() == 2
    assert list(age_group_probs(sure, age_head).argmax(1)) == [0, 1, 2]

def test_skip_boundary_age_leaves_those_ages_out_of_the_age_loss_only():
    import torch.nn.functional as F
    from maskfast.learn.losses import make_loss
    from maskfast.learn.config import FitConfig
    logits = torch.randn(6, 8, requires_grad=True)
    y, age = torch.tensor([0, 7, 14, 2, 10, 17]), torch.tensor([25, 28, 59, 60, 57, 40])   # items 1, 2, 4 in the bands
    loss = make_loss('ce', 'multi', skip_ages=((28, 29), (57, 59)))
    l = loss(logits, y, age); l.backward()
    keep = torch.tensor([0, 3, 5])
    want = F.cross_entropy(logits[:, :3], y // 6) + F.cross_entropy(logits[:, 3:5], (y // 3) % 2) + F.cross_entropy(logits[keep, 5:], y[keep] % 3)
    assert torch.allclose(l, want)
    g = logits.grad
    assert g[[1, 2, 4], 5:].abs().sum() == 0 and g[[0, 3, 5], 5:].abs().sum(1).min() > 0   # the age head hears only the rest
    assert g[[1, 2, 4], :5].abs().sum(1).min() > 0                                         # mask and gender hear everyone
    everyone_old = make_loss('ce', 'multi', skip_ages=((0, 120),))(logits, y, age)         # nobody left for age: no age term
    assert torch.allclose(everyone_old, F.cross_entropy(logits[:, :3], y // 6) + F.cross_entropy(logits[:, 3:5], (y // 3) % 2))
    with pytest.raises(ValueError, match='second target'): loss(logits, y)
    old = make_loss('ce', 'multi'); del old.loss.__dict__['skip_ages']     # as a loss pickled before the option unpickles
    everyone = F.cross_entropy(logits[:, :3], y // 6) + F.cross_entropy(logits[:, 3:5], (y // 3) % 2) + F.cross_entropy(logits[:, 5:], y % 3)
    assert torch.allclose(old(logits, y), everyone)
    with pytest.raises(ValueError, match='multi head'): FitConfig(skip_boundary_age=True, head='single')

def test_skip_boundary_age_fit_and_predict(twin, tmp_path):
    from maskfast.learn.train import fit_run
    from maskfast.infer.submission import predict_eval
    res = fit_run(data=str(twin), out=str(tmp_path / 'o'), skip_boundary_age=True, **TINY)
    assert 'skip_boundary_age: true' in (tmp_path / 'o' / 'args.yaml').read_text()
    _, probs = predict_eval([res['run_dir']], str(twin), None, tta=0, progress=False, consistency=False)
    assert probs.shape[1] == 18 and np.allclose(probs.sum(1), 1, atol=1e-3)

def test_unknown_age_head_names_the_heads():
    from maskfast.learn.age_heads import age_group_probs
    with pytest.raises(ValueError, match="'hybrid'"): age_group_probs(torch.zeros(2, 3), 'gaussian')

def test_gaussian_age_loss_keeps_squared_error_sized_gradients():
    from maskfast.learn.age_heads import GaussianAgeLoss
    age = torch.tensor([20., 45., 60., -1.])                            # the last one's age is unknown: left out
    for log_s in (-6., 0., 2.):                                         # a tiny, a unit and a wide spread
        out = torch.tensor([[1.5, log_s]] * 4, requires_grad=True)
        GaussianAgeLoss()(out, age).backward()
        g, err = out.grad[:3, 0], (1.5 - (age[:3] - 39) / 12).clamp(-1, 1) / 3   # Huber's gradient, whatever the spread
        assert torch.isfinite(out.grad).all() and out.grad[3].abs().sum() == 0 and out.grad.abs().max() <= 3 + 1e-6   # |var - err^2| <= 9 an item
        assert torch.allclose(g, err, atol=1e-5)                          # plain NLL: err / var, ~140x at the floor

@pytest.mark.parametrize('age_head', ['ordinal', 'hybrid', 'class-ordinal'])
def test_age_head_fit_and_predict(twin, tmp_path, age_head):
    from maskfast.learn.train import fit_run
    from maskfast.infer.submission import predict_eval
    res = fit_run(data=str(twin), out=str(tmp_path / 'o'), age_head=age_head, **TINY)
    assert json.loads((tmp_path / 'o' / 'model.json').read_text())['age_head'] == age_head
    _, probs = predict_eval([res['run_dir']], str(twin), None, tta=0, progress=False, consistency=False)
    assert probs.shape[1] == 18 and np.allclose(probs.sum(1), 1, atol=1e-3)

def test_default_input_is_space_to_depth_fine_at_384x256(twin, tmp_path):
    import yaml
    from maskfast.learn.train import fit_run
    from maskfast.infer.submission import predict_eval
    res = fit_run(data=str(twin), out=str(tmp_path / 's'), **{k: v for k, v in TINY.items() if k != 'size'})
    assert res['size'] == [384, 256] and json.loads((tmp_path / 's' / 'model.json').read_text())['stem'] == 's2d-fine'
    args = yaml.safe_load((tmp_path / 's' / 'args.yaml').read_text())
    assert args['stem'] == 'auto' and args['size'] is None and args['run']['stem'] == 's2d-fine'   # asked for, and what ran
    _, probs = predict_eval([res['run_dir']], str(twin), None, tta=0, progress=False)   # rebuilt with the stem from model.json
    assert probs.shape[1] == 18 and np.allclose(probs.sum(1), 1, atol=1e-3)

@pytest.fixture
def splits_seen(monkeypatch):
    "The (training folders, validation folders) of every DataLoaders that fit builds, in order."
    import maskfast.learn.train as train_mod
    seen, orig = [], train_mod.mask_dataloaders
    def spy(df, caches, tr, va, **kw): seen.append((set(df.folder.values[tr]), set(df.folder.values[va]))); return orig(df, caches, tr, va, **kw)
    monkeypatch.setattr(train_mod, 'mask_dataloaders', spy)
    return seen

def test_full_trains_on_all_people_and_predict_uses_it(twin, tmp_path, splits_seen):
    from maskfast.learn.train import fit_run
    from maskfast.learn.runs import find_runs
    res = fit_run(data=str(twin), out=str(tmp_path / 'r'), full=True, **TINY)
    (fold_tr, fold_va), (full_tr, _) = splits_seen
    assert not fold_tr & fold_va and full_tr == fold_tr | fold_va == set(pd.read_csv(twin / 'train' / 'train.csv').path)
    assert res['full_run'] == str(tmp_path / 'r' / 'full') and find_runs([tmp_path / 'r']) == [tmp_path / 'r' / 'full']
    full_args = __import__('yaml').safe_load((tmp_path / 'r' / 'full' / 'args.yaml').read_text())
    assert full_args['run']['lr'] == res['lr'] and full_args['run']['epochs'] == res['epochs'] and not full_args['full']
    from maskfast.infer.review import oof_predictions
    oof, complete = oof_predictions(tmp_path / 'r')              # the fold run's held-out predictions, not the refit's
    assert not complete and set(oof.person) == fold_va

def test_train_all_is_the_default_single_fold_fit(twin, tmp_path, splits_seen, capsys):
    from maskfast.learn.train import fit_run
    from maskfast.learn.checkpoints import load_checkpoint
    from maskfast.learn.config import FitConfig, parse_cli
    from maskfast.infer.review import oof_predictions
    from maskfast import fit as fit_cli, sweep as sweep_cli, pseudo as pseudo_cli
    res = fit_run(data=str(twin), out=str(tmp_path / 'a'), **{**TINY, 'epochs': 2, 'quiet': False})   # no train_all given
    [(tr, va)] = splits_seen                                             # one fit, no refit
    assert va and va < tr and tr == set(pd.read_csv(twin / 'train' / 'train.csv').path)
    assert res['holdout'] is False and 'full_run' not in res and res['epochs_run'] == 2
    assert f'val-as-train: training on all 40 people, the {len(va)} of validation fold 0 included' in capsys.readouterr().out
    best = torch.load(tmp_path / 'a' / 'model.pth', weights_only=True)
    last = load_checkpoint(tmp_path / 'a' / 'last.pth')['model']    # the last epoch is the model, nothing selected
    assert all(torch.equal(best[k], last[k]) for k in best)
    with pytest.raises(ValueError, match='not out of fold'): oof_predictions(tmp_path / 'a')
    fit_run(data=str(twin), out=str(tmp_path / 'h'), train_all=False, **TINY)      # --no-train-all: a hold-out again
    (tr2, va2) = splits_seen[1]
    assert va2 == va and not tr2 & va2 and json.loads((tmp_path / 'h' / 'result.json').read_text())['holdout'] is True
    assert len(oof_predictions(tmp_path / 'h')[0]) > 0
    # the options that need a hold-out switch it off by themselves; the command lines say which way they lean
    assert FitConfig().train_all and not FitConfig(train_all=False).train_all
    for need, why in ((dict(full=True), '--full'), (dict(fold='all'), '--fold all'), (dict(patience=2), '--patience'),
                      (dict(keep_best=3), '--keep-best > 1'), (dict(split='image'), '--split image')):
        cfg = FitConfig(**need)
        assert not cfg.train_all and cfg.holdout_needed() == why and not cfg.replace(fold='1').train_all
    assert parse_cli(fit_cli.parser(), ['--no-train-all']) == {'train_all': False}
    assert parse_cli(sweep_cli.parser(), ['--out', 'x', '--train-all'])['train_all'] is True   # a sweep and pseudo rounds hold out
    assert parse_cli(pseudo_cli.parser(), ['--train-all'])['train_all'] is True
    assert not FitConfig.from_dict({'arch': 'resnet18'}, notice=lambda m: None).train_all   # an args.yaml from before the option

def test_recipes_fill_options_and_flags_override():
    from maskfast.learn.recipes import recipe_config, RECIPES
    from maskfast import fit as fit_cli
    from maskfast.learn.config import parse_cli
    for name in RECIPES: recipe_config(name)                       # every recipe is a valid config
    cfg = recipe_config(**parse_cli(fit_cli.parser(), ['--recipe', 'ai4-winner', '--arch', 'resnet18']))
    assert cfg.recipe == 'ai4-winner' and cfg.arch == 'resnet18' and cfg.crop == 'face' and cfg.cutmix == 0.7 and cfg.erase == 0.5
    assert cfg.boundary_ages == (27, 29, 57, 59)

def test_grouping_purity_is_measured_against_the_twins_persons(twin):
    from maskfast.data.cache import build_cache
    from maskfast.data.layout import read_eval
    from maskfast.infer.persons import photo_groups, grouping_ari
    info = read_eval(twin)
    sol = pd.read_csv(twin / 'eval' / 'solution.csv').set_index('ImageID')
    cache = build_cache(info['file'], (64, 48), name='g', verbose=False, progress=False)
    ari = grouping_ari(photo_groups(cache), sol.loc[info.ImageID, 'person'].values)
    assert 0.5 < ari <= 1.0                                       # photos of one person mostly grouped together
    assert grouping_ari(np.arange(len(info)), sol.loc[info.ImageID, 'person'].values) == pytest.approx(0, abs=0.01)

@pytest.fixture(scope='module')
def small_ceiling():
    """The ideal observer on 2,000 + 2,000 simulated people (computed once for the tests that read it). At this size,
    seeds 0-2 (stop 49): age F1 blind to the wrinkles 0.090-0.128 below it, gender 0.004-0.008 apart; blind to the hair
    length gender 0.056-0.062 below (the margins below are 0.05, 0.03 and 0.02); 40 s for the three, 59 s at 4,000."""
    from maskfast.data.ceiling import twin_ceiling
    return twin_ceiling(n_train=2000, n_test=2000)

def test_twin_ceiling_small(small_ceiling):
    r = small_ceiling
    assert 0.4 < r['f1_per_photo'] <= r['f1_pooled'] + 0.05 < 1.0 and r['gender_f1'] > 0.8

def test_ceiling_of_an_observer_blind_to_some_cues(small_ceiling):
    from maskfast.data.ceiling import twin_ceiling, FINE_CUES, CUES
    full = small_ceiling
    no_wrinkles = twin_ceiling(n_train=2000, n_test=2000, blind=['wrinkles', 'wrinkle_dark'])
    assert no_wrinkles['age_f1'] < full['age_f1'] - 0.05                 # the wrinkle lines carry much of the age
    assert abs(no_wrinkles['gender_f1'] - full['gender_f1']) < 0.03     # and nothing of the gender
    no_hair = twin_ceiling(n_train=2000, n_test=2000, blind=['long_hair'])
    assert no_hair['gender_f1'] < full['gender_f1'] - 0.02
    assert set(FINE_CUES) < set(CUES)
    with pytest.raises(ValueError, match='unknown cue'): twin_ceiling(100, 100, blind=['wrinkle'])

def test_soft_age_targets_spread_only_the_ages_near_a_boundary():
    from maskfast.learn.age_heads import soft_age_targets
    age = torch.tensor([18, 20, 27, 29, 30, 45, 57, 59, 60, -1])
    group = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1, 2, 1])
    q = soft_age_targets(age, group, 3)
    assert torch.allclose(q.sum(1), torch.ones(10)) and (q >= 0).all()
    assert torch.allclose(q[[0, 1, 5]], torch.eye(3)[[0, 0, 1]], atol=1e-3)        # far inside a group: that group
    assert torch.allclose(q[3], torch.tensor([0.5662, 0.4338, 0.]), atol=1e-3)     # 29: P(29 + N(0, 3) < 29.5)
    assert torch.allclose(q[4], q[3][[1, 0, 2]], atol=1e-3)                        # 30 mirrors 29 across the boundary
    assert 0 < q[6, 2] < q[7, 2] < 0.5 and q[7, 0] < 1e-6                          # 57 and 59 lean towards >=60, less than half
    assert torch.equal(q[8], torch.tensor([0., 0., 1.])) and torch.equal(q[9], torch.tensor([0., 1., 0.]))   # top age, unknown age: hard
    assert (q[:8, 0].diff() <= 0).all()                                            # P(<30) falls with the age
    assert torch.equal(soft_age_targets(age, group, 0), torch.eye(3)[group])       # sigma 0: the hard groups
    q58 = soft_age_targets(torch.tensor([57, 58]), torch.tensor([1, 2]), 3, old_from=58)
    assert torch.allclose(q58[1, 2], torch.tensor(0.5662), atol=1e-3) and q58[0, 2] < 0.5   # the boundary moves with --old-from

def test_age_sigma_loss_is_cross_entropy_against_the_soft_targets():
    from maskfast.learn.losses import make_loss
    from maskfast.learn.age_heads import soft_age_targets
    logits = torch.randn(5, 8, requires_grad=True)
    y, age = torch.tensor([0, 6, 16, 4, 11]), torch.tensor([20, 29, 58, 33, 60])   # groups 0 0 1 1 2
    l = make_loss('ce', 'multi', age_sigma=3)(logits, y, age); l.backward()
    q = soft_age_targets(age, y % 3, 3)
    want = F.cross_entropy(logits[:, :3], y // 6) + F.cross_entropy(logits[:, 3:5], (y // 3) % 2) + \
        -(q * F.log_softmax(logits[:, 5:], -1)).sum(1).mean()
    assert torch.allclose(l, want)
    hard = make_loss('ce', 'multi')(logits, y)
    assert not torch.allclose(l, hard)                                    # 29, 58 and 33 are softened
    far = torch.tensor([18, 18, 45, 45, 60])                               # every age far from a boundary: the hard loss
    assert torch.allclose(make_loss('ce', 'multi', age_sigma=3)(logits, y, far), hard, atol=1e-3)
    age_only = make_loss('ce', 'single', task='age', age_sigma=3)(logits[:, 5:], y, age)   # the age task alone
    assert torch.allclose(age_only, -(q * F.log_softmax(logits[:, 5:], -1)).sum(1).mean())
    with pytest.raises(ValueError, match='second target'): make_loss('ce', 'multi', age_sigma=3)(logits, y)
    with pytest.raises(ValueError, match='--head multi'): make_loss('ce', 'single', age_sigma=3)
    with pytest.raises(ValueError, match='ordinal'): make_loss('ce', 'multi', age_head='ordinal', age_sigma=3)
    with pytest.raises(ValueError, match="'focal'"): make_loss('mask:ce;age:focal', 'multi', age_sigma=3)

@pytest.mark.parametrize('opts, why', [({'head': 'single'}, 'single head'), ({'age_head': 'hybrid'}, 'hybrid age head'),
                                       ({'loss': 'focal'}, "'focal'"), ({'loss': 'gender:focal;age:f1'}, "'f1'"),
                                       ({'task': 'mask'}, 'mask task')])
def test_age_sigma_refused_where_there_is_no_hard_age_group_to_soften(opts, why):
    from maskfast.learn.config import FitConfig
    with pytest.raises(ValueError, match=why): FitConfig(age_sigma=3, **opts)
    with pytest.raises(ValueError, match='spread in years'): FitConfig(age_sigma=-1)
    assert FitConfig(age_sigma=3, loss='mask:focal').age_sigma == 3 and FitConfig(age_sigma=3, task='age').age_sigma == 3

def test_age_sigma_unset_is_on_where_a_class_age_head_trains_under_ce():
    from maskfast.learn.config import FitConfig, age_sigma_value, AGE_SIGMA
    assert AGE_SIGMA > 0 and FitConfig().age_sigma is None
    assert age_sigma_value(FitConfig()) == (AGE_SIGMA, '') and age_sigma_value(FitConfig(task='age')) == (AGE_SIGMA, '')
    assert age_sigma_value(FitConfig(age_sigma=0)) == (0., '') and age_sigma_value(FitConfig(age_sigma=2)) == (2., '')
    assert age_sigma_value(FitConfig(loss='gender:focal')) == (AGE_SIGMA, '')            # the age loss is still ce
    for opts, why in [({'head': 'single'}, 'single head'), ({'age_head': 'ordinal'}, 'ordinal age head'),
                      ({'loss': 'focal'}, "'focal'"), ({'task': 'gender'}, 'gender task')]:
        sigma, off = age_sigma_value(FitConfig(**opts))                                  # unset there: off, and why
        assert sigma == 0 and why in off, (opts, off)

def test_age_sigma_default_fit_hands_each_age_to_the_soft_loss(twin, tmp_path, monkeypatch):
    import yaml
    from maskfast.learn.age_heads import SoftAgeGroupLoss
    from maskfast.learn.config import AGE_SIGMA
    from maskfast.learn.train import fit_run
    from maskfast.infer.submission import predict_eval
    seen, forward = [], SoftAgeGroupLoss.forward
    def spy(self, logits, group, age): seen.append((self.sigma, age.detach().clone())); return forward(self, logits, group, age)
    monkeypatch.setattr(SoftAgeGroupLoss, 'forward', spy)
    res = fit_run(data=str(twin), out=str(tmp_path / 'o'), **TINY)              # --age-sigma unset: the default
    args = yaml.safe_load((tmp_path / 'o' / 'args.yaml').read_text())
    assert args['age_sigma'] is None and args['run']['age_sigma'] == AGE_SIGMA
    ages = torch.cat([a for _, a in seen])
    assert seen and {s for s, _ in seen} == {AGE_SIGMA} and ages.min() >= 18 and ages.max() <= 60 and len(ages.unique()) > 5
    _, probs = predict_eval([res['run_dir']], str(twin), None, tta=0, progress=False, consistency=False)
    assert probs.shape[1] == 18 and np.allclose(probs.sum(1), 1, atol=1e-3)
    seen.clear()
    fit_run(data=str(twin), out=str(tmp_path / 'h'), age_sigma=0, **TINY)   # 0: the hard groups, no soft loss at all
    assert not seen and yaml.safe_load((tmp_path / 'h' / 'args.yaml').read_text())['run']['age_sigma'] == 0
