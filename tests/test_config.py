"One typed run configuration: the CLI is generated from it, args.yaml is it serialized and reads back."
import dataclasses, subprocess, sys
import pytest, yaml
from maskfast.learn.config import FitConfig, parse_cli, split_options
from maskfast.infer.config import PredictConfig
from maskfast import fit as fit_cli, predict as predict_cli, pseudo as pseudo_cli

def _actions(p): return {a.dest: a for a in p._actions}

@pytest.mark.parametrize('cli,cls', [(fit_cli, FitConfig), (predict_cli, PredictConfig)])
def test_every_field_is_an_option_with_its_default_in_help(cli, cls):
    acts = _actions(cli.parser())
    for f in dataclasses.fields(cls):
        a = acts[f.name]; shown_help = a.help.replace('%%', '%')          # argparse's escaping of %
        assert f.metadata['help'] in shown_help or shown_help == f.metadata.get('off')
        if not isinstance(f.default, bool) and f.default is not None:
            shown = ' '.join(map(str, f.default)) if isinstance(f.default, tuple) else str(f.default)
            assert f'(default: {shown})' in shown_help, (f.name, a.help)

def test_only_typed_options_are_returned_and_typed():
    given = parse_cli(fit_cli.parser(), ['--arch', 'resnet34', '--size', '64', '48', '--no-downsample', '--crop', 'face',
                                         '--lr', '0.01', '--drop-boundary'])
    assert given == {'arch': 'resnet34', 'size': (64, 48), 'downsample': False, 'crop': 'face', 'lr': 0.01, 'drop_boundary': True}
    cfg = FitConfig(**given)
    assert cfg.bs == FitConfig().bs and cfg.size == (64, 48)
    with pytest.raises(SystemExit): parse_cli(fit_cli.parser(), ['--crop', '1.5'])

def test_round_trip_and_unknown_names(tmp_path):
    cfg = FitConfig(arch='resnet34', size=(96, 64), crop=0.7, fold='all')
    text = yaml.safe_dump(cfg.to_dict())
    assert FitConfig.from_dict(yaml.safe_load(text)) == cfg
    with pytest.raises(TypeError, match='did you mean budget'): cfg.replace(budgte=10)
    with pytest.raises(ValueError, match='head must be one of'): FitConfig(head='triple')
    fit_opts, pred_opts = split_options({'tta': 0, 'cache': False, 'arch': 'resnet34'}, FitConfig, PredictConfig)
    assert fit_opts == {'cache': False, 'arch': 'resnet34'} and pred_opts == {'tta': 0, 'cache': False}
    with pytest.raises(TypeError, match='did you mean'): split_options({'consistensy': 1}, FitConfig, PredictConfig)

def test_mixing_and_erasing_probabilities_are_checked_before_any_work():
    for name in ('erase', 'cutmix', 'mixup_old'):
        for bad in (-0.1, 1.5):
            with pytest.raises(ValueError, match=f'--{name.replace("_", "-")} {bad} is a probability'): FitConfig(**{name: bad})
    assert FitConfig(erase=1.0, cutmix=0.0).erase == 1.0
    with pytest.raises(SystemExit, match='--erase 2.0 is a probability'): fit_cli.main(['--erase', '2'])

def test_fit_run_rejects_unknown_option(twin):
    from maskfast.learn.train import fit_run
    with pytest.raises(TypeError, match='did you mean'): fit_run(data=str(twin), epoch=1)

def test_pseudo_cli_shares_options_and_its_own_budget_default():
    acts = _actions(pseudo_cli.parser())
    assert {'rounds', 'threshold', 'tta', 'consistency', 'arch', 'budget', 'cache'} <= set(acts)
    assert '(default: 180.0)' in acts['budget'].help and 'parent folder' in acts['out'].help

def test_help_runs_from_the_command_line():
    r = subprocess.run([sys.executable, '-m', 'maskfast.fit', '--help'], capture_output=True, text=True)
    assert r.returncode == 0 and '--no-downsample' in r.stdout and '--resume RUN' in r.stdout and 'training:' in r.stdout

def test_fit_input_stem_and_size():
    from maskfast.learn.config import fit_input
    from maskfast.learn.recipes import recipe_config
    from maskfast.learn.budget import check_size
    from maskfast.learn.models import size_multiple
    assert fit_input(FitConfig()) == ('s2d-fine', (384, 256))                  # the default input from scratch
    assert fit_input(FitConfig(size=(128, 96))) == ('plain', (128, 96))         # a size of one's own keeps the plain stem
    assert fit_input(FitConfig(pretrained=True)) == fit_input(FitConfig(weights='w.pth')) == ('plain', (128, 96))
    assert fit_input(FitConfig(stem='plain')) == ('plain', (128, 96)) and fit_input(FitConfig(stem='s2d', size=(256, 192))) == ('s2d', (256, 192))
    assert [fit_input(recipe_config(r))[0] for r in ('cpu-fast', 'ai4-winner')] == ['plain'] * 2
    best = recipe_config('best')   # the default's input with the person-level loss on the age group at lr 3e-3 (stop 44)
    assert fit_input(best) == fit_input(FitConfig()) and (best.person_loss, best.person_loss_on, best.lr, best.budget) == (1.0, 'age', 3e-3, 420.)
    assert check_size((96, 32), size_multiple('s2d')) == (128, 64)
    with pytest.raises(ValueError): FitConfig(stem='s2')
