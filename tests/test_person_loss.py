"--person-loss: batches drawn a whole person at a time, and each photo's gender and age pulled to its person's pooled prediction."
import numpy as np, pytest, torch, torch.nn.functional as F

def test_person_order_draws_whole_people_by_weight_side_by_side():
    from maskfast.data.sampling import person_order
    groups = np.array(['a'] * 3 + ['b'] * 3 + ['c'] * 2)
    idxs, w = np.arange(8), np.array([3.] * 3 + [1.] * 3 + [0.] * 2)    # c is never drawn
    order = person_order(idxs, groups, w, 3000, np.random.default_rng(0))
    assert len(order) == 3000 and 'c' not in set(groups[order])
    triples = np.sort(np.array(order).reshape(-1, 3), 1)      # each drawn person's 3 photos side by side, in any order
    assert all(list(t) in ([0, 1, 2], [3, 4, 5]) for t in triples) and len({tuple(order[i:i + 3]) for i in range(0, 3000, 3)}) > 2
    assert (groups[order] == 'a').mean() == pytest.approx(0.75, abs=0.04)
    from maskfast.data.sampling import person_codes
    codes = person_codes(['a', '', 'b', 'a', ''])          # photos without a folder (pseudo-labelled) are each alone
    assert codes[0] == codes[3] and len({codes[1], codes[4], codes[0], codes[2]}) == 4
    order = person_order(np.arange(5), codes, np.ones(5), 60, np.random.default_rng(1))
    assert len(order) == 60 and {1, 4} <= set(order)

def test_person_batches_keep_a_persons_photos_together_and_the_epoch_order_names_each_batch(items):
    from maskfast.data.block import mask_dataloaders
    df, caches = items
    people = df['folder'].unique()
    tr = np.flatnonzero(df['folder'].isin(people[:30]).values); va = np.flatnonzero(~df['folder'].isin(people[:30]).values)
    dls = mask_dataloaders(df, caches, tr, va, bs=12, seed=0, person_batches=True, device='cpu')
    dl = dls.train
    assert dl.person_batches and len(dl.person_codes) == len(tr)
    batches = [(xb, yb) for xb, yb in dl]
    order = np.asarray(dl.epoch_order)
    for i, (_, yb) in enumerate(batches):
        idx = order[i * 12:(i + 1) * 12]
        np.testing.assert_array_equal(yb.cpu().numpy(), np.asarray(dl.labels)[idx])
        codes = dl.person_codes[idx]
        assert len(np.unique(codes)) <= 5   # 12 photos of 3 a person, 2 cut at the edges: at most 5 people, not ~12
    # the photos an epoch holds are still 1 mask photo + the other 2 per person
    assert dl.n == 3 * 30 and (dl.epoch_idxs.size == 90)
    assert not mask_dataloaders(df, caches, tr, va, bs=12, seed=0).train.person_batches

def _kl(q, logp): return (q * (q.log() - logp)).sum(-1)

def test_person_consistency_is_the_kl_from_the_vote_weighted_pool_and_skips_people_alone():
    from maskfast.learn.person_loss import person_consistency
    torch.manual_seed(0)
    logits = torch.randn(5, 8, requires_grad=True)
    labels = torch.tensor([0 * 6 + 4, 2 * 6 + 4, 1 * 6 + 1, 2 * 6 + 1, 5])   # person 7: worn, none; person 3: incorrect, none; 9 alone
    persons = [7, 7, 3, 3, 9]
    term, share = person_consistency(logits, labels, persons, tasks='gender+age')
    assert share == pytest.approx(0.8)
    want = []
    for a, b in ((0, 1), (2, 3)):
        for sl in (slice(3, 5), slice(5, 8)):
            pa, pb = F.softmax(logits[a, sl], -1).detach(), F.softmax(logits[b, sl], -1).detach()
            q = (pa + 3 * pb) / 4                                            # the unmasked photo counts 3x, as predict's vote
            want += [_kl(q, F.log_softmax(logits[a, sl], -1)), _kl(q, F.log_softmax(logits[b, sl], -1))]
    assert float(term.detach()) == pytest.approx(float(sum(want)) / 4, rel=1e-5)   # gender + age for each of the 4 photos
    term.backward()
    assert logits.grad[4].abs().sum() == 0 and logits.grad[:, :3].abs().sum() == 0   # alone / the mask outputs: untouched
    same = logits.detach().clone(); same[1], same[3] = same[0], same[2]
    assert float(person_consistency(same, labels, persons, tasks='gender+age')[0]) == pytest.approx(0., abs=1e-6)
    assert person_consistency(logits, labels, [1, 2, 3, 4, 5])[1] == 0.
    gender, age = float(sum(want[0:2] + want[4:6])) / 4, float(sum(want[2:4] + want[6:8])) / 4   # want: per pair, gender then age
    for tasks, want_one, untouched in (('gender', gender, slice(5, 8)), ('age', age, slice(3, 5))):   # one task alone
        logits.grad = None
        one = person_consistency(logits, labels, persons, tasks=tasks)[0]
        assert float(one.detach()) == pytest.approx(want_one, rel=1e-5)
        one.backward()
        assert logits.grad[:, untouched].abs().sum() == 0 and logits.grad[:4].abs().sum() > 0
    assert gender + age == pytest.approx(float(term.detach()), rel=1e-5)
    assert float(person_consistency(logits, labels, persons)[0]) == pytest.approx(age, rel=1e-5)   # the default: the age group
    with pytest.raises(ValueError, match="one of \\['age', 'gender\\+age', 'gender'\\]"):
        person_consistency(logits, labels, persons, tasks='mask')
    logits.grad = None                                               # pull 'masked': the unmasked photos only teach
    masked = person_consistency(logits, labels, persons, tasks='gender+age', pull='masked')[0]
    assert float(masked.detach()) == pytest.approx(float(sum(want[0::2])) / 2, rel=1e-5)   # photos 0 and 2, gender and age
    masked.backward()
    assert logits.grad[[1, 3]].abs().sum() == 0 and logits.grad[[0, 2]].abs().sum() > 0
    with pytest.raises(ValueError, match="pull must be one of \\['all', 'masked'\\]"):
        person_consistency(logits, labels, persons, pull='none')

def test_person_loss_adds_its_term_in_a_fit_and_refuses_a_loader_without_person_batches(items):
    from maskfast.data.block import mask_dataloaders
    from maskfast.learn.learner import mask_learner
    from maskfast.learn.person_loss import PersonConsistency
    df, caches = items
    people = df['folder'].unique()
    tr = np.flatnonzero(df['folder'].isin(people[:30]).values); va = np.flatnonzero(~df['folder'].isin(people[:30]).values)
    dls = mask_dataloaders(df, caches, tr, va, bs=12, seed=0, person_batches=True, device='cpu')
    learn = mask_learner(dls, 'resnet18', precision='fp32', quiet=True, person_loss=1.0, person_loss_on='age')
    cb = next(c for c in learn.cbs if isinstance(c, PersonConsistency))
    assert cb.tasks == 'age'
    learn.fit(1, 1e-3)
    assert len(cb.terms) == len(dls.train) and np.mean(cb.terms) > 0 and np.mean(cb.shares) > 0.6
    plain = mask_dataloaders(df, caches, tr, va, bs=12, seed=0, device='cpu')
    with pytest.raises(RuntimeError, match='draw whole people'):
        mask_learner(plain, 'resnet18', precision='fp32', quiet=True, person_loss=1.0).fit(1, 1e-3)

def test_person_loss_option_is_checked():
    from maskfast.learn.config import FitConfig
    assert FitConfig(person_loss=0.5).person_loss == 0.5
    with pytest.raises(ValueError, match='is a weight'): FitConfig(person_loss=-1)
    with pytest.raises(ValueError, match='--person-loss 1 does not combine with --head single: .* needs --head multi'): FitConfig(person_loss=1, head='single')
    with pytest.raises(ValueError, match='needs --head multi'): FitConfig(person_loss=1, age_head='ordinal')
    with pytest.raises(ValueError, match='--no-downsample'): FitConfig(person_loss=1, downsample=False)
    with pytest.raises(ValueError, match='--workers'): FitConfig(person_loss=1, workers=2)
    assert FitConfig(person_batches=True, workers=2).person_batches           # batches alone: any loader
    assert FitConfig(person_loss=1, person_loss_on='age').person_loss_on == 'age'
    with pytest.raises(ValueError, match='person_loss_on must be one of'): FitConfig(person_loss=1, person_loss_on='mask')
    with pytest.raises(ValueError, match='--person-loss-on gender pulls nothing with --person-loss 0'):
        FitConfig(person_loss=0, person_loss_on='gender')
    assert FitConfig(person_pull='masked').person_pull == 'masked'
    with pytest.raises(ValueError, match='--person-pull masked pulls nothing with --person-loss 0'):
        FitConfig(person_loss=0, person_pull='masked')

def test_an_args_yaml_from_before_the_default_keeps_what_it_trained_with():
    from maskfast.learn.config import FitConfig
    quiet = lambda m: None
    assert FitConfig.from_dict({'arch': 'resnet18'}, notice=quiet).person_loss == 0.       # before --person-loss: none
    stop43 = FitConfig.from_dict({'arch': 'resnet18', 'person_loss': 1.0}, notice=quiet)   # before --person-loss-on
    assert (stop43.person_loss, stop43.person_loss_on) == (1.0, 'gender+age')
    now = FitConfig.from_dict(FitConfig().to_dict(), notice=quiet)
    assert (now.person_loss, now.person_loss_on) == (None, 'age')

def test_an_unset_person_loss_is_on_where_the_fit_allows_it():
    from maskfast.learn.config import FitConfig, person_loss_weight, PERSON_LOSS
    assert FitConfig().person_loss is None and FitConfig().person_loss_on == 'age'
    assert person_loss_weight(FitConfig()) == (PERSON_LOSS, '') and PERSON_LOSS == 1.0
    assert person_loss_weight(FitConfig(person_loss=0.)) == (0., '') and person_loss_weight(FitConfig(person_loss=2.)) == (2., '')
    for opts, why in ((dict(head='single'), '--head single'), (dict(task='gender'), '--task gender'),
                      (dict(age_head='ordinal'), '--age-head ordinal'), (dict(downsample=False), '--no-downsample'),
                      (dict(workers=2), '--workers 2')):
        assert person_loss_weight(FitConfig(**opts)) == (0., why)      # off, not refused: the user did not ask for it
    assert person_loss_weight(FitConfig(), processes=2) == (0., '2 processes')
    assert person_loss_weight(FitConfig(head='single', workers=1)) == (0., '--head single, --workers 1')
    with pytest.raises(ValueError, match='--person-batches draws'): FitConfig(person_batches=True, downsample=False)
    assert FitConfig().person_loss_blockers() == [] and [w for w, _ in FitConfig(task='age').person_loss_blockers(3)] == ['--task age', '3 processes']
    with pytest.raises(ValueError, match=r'--person-loss 0.5 does not combine with 2 processes'):   # typed: refused, not turned off
        person_loss_weight(FitConfig(person_loss=0.5), processes=2)
    assert person_loss_weight(FitConfig(person_loss=0.), processes=2) == (0., '')

def test_person_batches_alone_reach_the_loader_of_a_fit(twin, tmp_path, monkeypatch):
    import maskfast.learn.train as train
    from conftest import TINY
    seen, real = [], train.mask_dataloaders
    def spy(*a, **k): seen.append(k.get('person_batches')); return real(*a, **k)
    monkeypatch.setattr(train, 'mask_dataloaders', spy)
    learners, real_learner = [], train.mask_learner
    def spy_learner(*a, **k): learners.append((k.get('person_loss'), k.get('person_loss_on'), k.get('person_pull'))); return real_learner(*a, **k)
    monkeypatch.setattr(train, 'mask_learner', spy_learner)
    train.fit_run(data=str(twin), out=str(tmp_path / 'pb'), **TINY, person_loss=0, person_batches=True)
    train.fit_run(data=str(twin), out=str(tmp_path / 'plain'), **TINY, person_loss=0)
    train.fit_run(data=str(twin), out=str(tmp_path / 'default'), **TINY)
    train.fit_run(data=str(twin), out=str(tmp_path / 'both'), **TINY, person_loss=0.5, person_loss_on='gender+age', person_pull='masked')
    assert seen == [True, False, True, True]
    assert learners == [(0., 'age', 'all'), (0., 'age', 'all'), (1., 'age', 'all'), (0.5, 'gender+age', 'masked')]
    import yaml
    args = yaml.safe_load((tmp_path / 'default' / 'args.yaml').read_text())
    assert args['person_loss'] is None and args['person_loss_on'] == 'age' and args['run']['person_loss'] == 1.0
    monkeypatch.setattr(train, 'world_size', lambda: 2)                       # under torchrun: refused before any work
    with pytest.raises(ValueError, match='with 2 processes: it reads the people of each batch from the loader in one process: run it in one process, or use --person-batches'):
        train.fit_run(data=str(twin), out=str(tmp_path / 'two'), **TINY, person_loss=1.0)
    assert not (tmp_path / 'two' / 'args.yaml').exists()
