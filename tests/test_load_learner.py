"maskfast.load_learner: a fastai Learner from a run folder (no pickle), predict on any image, export to fastai's loader."
import numpy as np, pandas as pd, torch
from PIL import Image
from fastai.learner import load_learner as fastai_load_learner
from maskfast import load_learner
from maskfast.data.cache import build_cache
from maskfast.data.labels import MaskClass, MASKS, GENDERS, AGES
from maskfast.data.layout import read_eval
from maskfast.infer.predict import predict_cache
from maskfast.learn.runs import load_model

def test_predict_words_id_probs_with_the_runs_preprocessing(twin, trained):
    learn = load_learner(trained['run_dir'], device='cpu')
    files = read_eval(twin)['file'][:3]
    model, cfg = load_model(trained['run_dir'], torch.device('cpu'))
    ref = predict_cache(model, cfg, build_cache(files, cfg['size'], cfg['crop'], name='ll', verbose=False, progress=False),
                        tta=0, precision='fp32')
    for f, r in zip(files, ref):
        words, cid, probs = learn.predict(f)
        assert isinstance(words, MaskClass) and words.id == int(cid) == int(np.argmax(r))
        assert words.mask in MASKS and words.gender in GENDERS and words.age in AGES and str(words) == '/'.join(words.words)
        assert probs.shape == (18,) and np.allclose(probs.numpy(), r, atol=1e-5)   # same crop, size and normalisation
    arr = np.asarray(Image.open(files[0]).convert('RGB'))
    for item in (arr, Image.open(files[0])):   # arrays and PIL images: full decode, not JPEG draft: close, not equal
        _, _, p = learn.predict(item)
        assert np.abs(p.numpy() - ref[0]).max() < 0.05
    p, _ = learn.get_preds(dl=learn.dls.test_dl(list(files)))
    assert np.allclose(p.numpy(), ref, atol=1e-5)

def test_export_reads_back_with_fastai_load_learner(twin, trained, tmp_path):
    learn = load_learner(trained['run_dir'], device='cpu')
    f = read_eval(twin)['file'][0]
    learn.export(tmp_path / 'export.pkl')
    again = fastai_load_learner(tmp_path / 'export.pkl', cpu=True)
    a, b = learn.predict(f), again.predict(f)
    assert a[0] == b[0] and torch.allclose(a[2], b[2])
    assert MaskClass(a[0]) == a[0] and MaskClass('normal/male/>=60').id == 14

def test_training_learner_exports_too(items, tmp_path):
    from maskfast.data.block import mask_dataloaders
    from maskfast.data.splits import fold_indices
    from maskfast.learn.learner import mask_learner
    df, caches = items
    tr, va = fold_indices(df, 0, 4)
    learn = mask_learner(mask_dataloaders(df, caches, tr, va, bs=8), 'resnet18', precision='fp32', run_dir=tmp_path / 'r')
    learn.export(tmp_path / 'train.pkl')                      # no lambdas or closures inside
    again = fastai_load_learner(tmp_path / 'train.pkl', cpu=True)
    assert all(torch.equal(u, v) for u, v in zip(learn.model.state_dict().values(), again.model.state_dict().values()))

def test_progress_off_a_terminal_is_one_line_per_epoch(twin, tmp_path):
    import subprocess, sys, os
    r = subprocess.run([sys.executable, '-m', 'maskfast.fit', '--data', str(twin), '--size', '64', '32', '--bs', '16',
                        '--epochs', '3', '--precision', 'fp32', '--folds', '4', '--out', str(tmp_path / 'r'), '--no-cache'],
                       capture_output=True, text=True, timeout=300, env={**os.environ, 'PYTHONWARNINGS': 'ignore'})
    assert r.returncode == 0, r.stderr[-2000:]
    assert '\r' not in r.stdout + r.stderr                     # stdout is a pipe here, as in CI or `> log`
    lines = r.stdout.splitlines()
    header = next(i for i, l in enumerate(lines) if l.split()[:2] == ['epoch', 'train_loss'])
    assert [l.split()[0] for l in lines[header + 1:header + 4]] == ['0', '1', '2']
    assert any(l.startswith('lr_find') or 'budget' in l or 'training resnet18' in l for l in lines)

def test_log_detail_learner_takes_the_loaders_normalisation_and_predict_rebuilds_it(items, tmp_path):
    from maskfast.data.block import mask_dataloaders
    from maskfast.data.splits import fold_indices
    from maskfast.learn.learner import mask_learner
    from maskfast.learn.runs import write_model
    df, caches = items
    tr, va = fold_indices(df, 0, 4)
    mean, std = [0.41, 0.43, 0.47], [0.22, 0.21, 0.25]
    learn = mask_learner(mask_dataloaders(df, caches, tr, va, bs=8, mean=mean, std=std), 'resnet18', precision='fp32', stem='s2d-fine-log')
    d = learn.model[0].detail
    assert torch.allclose(d.mean.flatten(), torch.tensor(mean)) and torch.allclose(d.std.flatten(), torch.tensor(std))
    write_model(tmp_path, learn.model, {'arch': 'resnet18', 'head': 'multi', 'stem': 's2d-fine-log'})
    model, _ = load_model(tmp_path, torch.device('cpu'))
    assert torch.allclose(model[0].detail.std.flatten(), torch.tensor(std))   # from model.pth, not the buffers' defaults
