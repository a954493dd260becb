"fit --members N: a small voted ensemble of val-as-train fits that differ in their seed, predicted as one."
import json
import numpy as np, pytest
from conftest import TINY

def test_members_train_each_seed_on_all_people_and_predict_votes_them(twin, tmp_path, capsys):
    from maskfast import fit as fit_cli
    from maskfast.learn.runs import find_runs, read_args
    from maskfast.infer.submission import predict_eval
    argv = ['--data', str(twin), '--out', str(tmp_path / 'e'), '--members', '2', '--seed', '5', '--size', '64', '32',
            '--bs', '16', '--epochs', '1', '--lr', '1e-3', '--folds', '4', '--precision', 'fp32', '--quiet']
    res = fit_cli.main(argv)
    members = [tmp_path / 'e' / 'member0', tmp_path / 'e' / 'member1']
    assert find_runs([tmp_path / 'e']) == members
    args = [read_args(m) for m in members]
    assert [a['seed'] for a in args] == [5, 6] and all(a['members'] == 1 and a['train_all'] for a in args)
    assert read_args(tmp_path / 'e')['members'] == 2
    saved = json.loads((tmp_path / 'e' / 'members.json').read_text())
    assert [m['seed'] for m in saved['members']] == [5, 6] and res['f1'] == pytest.approx(np.mean([m['f1'] for m in saved['members']]))
    assert 'training member 2 of 2 (seed 6)' in capsys.readouterr().out
    # the two members differ (their seeds), and predicting the parent soft-votes them
    _, probs = predict_eval([tmp_path / 'e'], str(twin), None, tta=0, progress=False, precision='fp32',
                              consistency=False, old_share='off')
    each = [predict_eval([m], str(twin), None, tta=0, progress=False, precision='fp32', consistency=False, old_share='off')[1]
            for m in members]
    assert not np.allclose(each[0], each[1], atol=1e-4)
    np.testing.assert_allclose(probs, (each[0] + each[1]) / 2, atol=1e-5)
    # run again with the same options: both members are kept, nothing is trained
    assert fit_cli.main(argv)['f1'] == pytest.approx(res['f1'])
    out = capsys.readouterr().out
    assert out.count('already finished with these options; kept') == 2 and 'training member' not in out
    with pytest.raises(SystemExit, match='run the same fit command again'): fit_cli.main(['--resume', str(tmp_path / 'e')])
    from maskfast.learn.train import fit_run
    (tmp_path / 'k' / 'fold0').mkdir(parents=True)                       # a --fold all parent: resumed per fold
    for d in (tmp_path / 'k', tmp_path / 'k' / 'fold0'): (d / 'args.yaml').write_text((tmp_path / 'e' / 'args.yaml').read_text())
    with pytest.raises(ValueError, match='parent of the run folders fold0, not a run'): fit_run(resume=str(tmp_path / 'k'))

def test_members_retrains_a_member_whose_options_changed_or_that_never_finished(tmp_path):
    from maskfast.learn.ensemble import fit_members
    calls = []
    def fake_fit(cfg):
        from maskfast.learn.runs import write_args
        from pathlib import Path
        calls.append((cfg.seed, cfg.budget)); d = Path(cfg.out); d.mkdir(parents=True, exist_ok=True)
        write_args(d, cfg); (d / 'model.pth').write_bytes(b'x'); (d / 'result.json').write_text(json.dumps({'f1': 0.1 * cfg.seed}))
        return {'f1': 0.1 * cfg.seed}
    fit_members(out=str(tmp_path / 'e'), members=3, seed=1, budget=300., fit=fake_fit)
    assert calls == [(1, 100.), (2, 100.), (3, 100.)]                 # seeds in turn, the budget shared
    (tmp_path / 'e' / 'member1' / 'result.json').unlink()              # killed before it finished
    calls.clear(); fit_members(out=str(tmp_path / 'e'), members=3, seed=1, budget=300., fit=fake_fit)
    assert calls == [(2, 100.)]
    calls.clear(); res = fit_members(out=str(tmp_path / 'e'), members=3, seed=1, budget=300., lr=0.01, fit=fake_fit)
    assert calls == [(1, 100.), (2, 100.), (3, 100.)] and res['f1'] == pytest.approx(0.2)

def test_members_option_is_checked():
    from maskfast.learn.config import FitConfig
    from maskfast.learn.ensemble import fit_members
    with pytest.raises(ValueError, match='--members 0'): FitConfig(members=0)
    with pytest.raises(ValueError, match='does not combine with --fold all'): FitConfig(members=3, fold='all')
    with pytest.raises(ValueError, match='does not combine with --full'): FitConfig(members=2, full=True)
    with pytest.raises(ValueError, match='2 or more members'): fit_members(members=1)
