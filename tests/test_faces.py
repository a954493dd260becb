"Face detection and face-centred crops: a real photo, cached boxes, the fallback, fit + predict end to end."
import os, subprocess, sys
from pathlib import Path
import numpy as np, pandas as pd, pytest
from PIL import Image
from conftest import TINY

skimage = pytest.importorskip('skimage', reason="the real test photo comes with scikit-image (the 'dev' extra)")
ASTRONAUT = Path(skimage.__file__).parent / 'data' / 'astronaut.png'

def test_detector_finds_the_astronauts_face():
    from maskfast.data.faces import FaceDetector
    x0, y0, x1, y1, score = FaceDetector()(np.asarray(Image.open(ASTRONAUT).convert('RGB')))
    # her face spans about x 180-270, y 65-175 of the 512 x 512 photo (eyes near y 110, chin near y 170)
    assert score > 0.95 and 160 < x0 < 200 and 250 < x1 < 290 and 40 < y0 < 90 and 150 < y1 < 200

def test_boxes_are_cached_and_reused(tmp_path, monkeypatch, capsys):
    import maskfast.data.faces as faces
    files = [tmp_path / 'a.png', tmp_path / 'blank.png']
    Image.open(ASTRONAUT).save(files[0]); Image.new('RGB', (384, 512), (120, 130, 140)).save(files[1])
    b = faces.face_boxes(files, cache_dir=tmp_path / 'c', workers=1, progress=False)
    assert np.isfinite(b.score[0]) and np.isnan(b.score[1]) and '2 detected' in capsys.readouterr().out
    def no_detection(*a, **k): raise AssertionError('detected again')
    monkeypatch.setattr(faces, '_detect_rows', no_detection)
    again = faces.face_boxes(files, cache_dir=tmp_path / 'c', workers=1, progress=False)
    assert np.allclose(again.x0[:1], b.x0[:1]) and '0 detected' in capsys.readouterr().out
    crops, fallback = faces.face_crops(files, (128, 96), progress=False, verbose=False, cache_dir=tmp_path / 'c')
    assert crops[1] == fallback and np.allclose(crops[0], fallback, atol=1e-4)   # no face: the usual (median) crop of those found
    monkeypatch.undo()                                            # another file list: detected
    crops, fallback = faces.face_crops(files[1:], (128, 96), progress=False, verbose=False, cache_dir=tmp_path / 'c')
    assert crops[0] == fallback == (0.075, 0.075, 0.925, 0.925)   # none found anywhere: the centre crop

def test_face_crop_keeps_the_face_and_hair():
    from maskfast.data.faces import face_crop_box
    x0, y0, x1, y1 = face_crop_box((182, 64, 270, 176), 512, 512, aspect=128 / 96)
    assert x0 < 150 and x1 > 300 and y0 < 60 and y1 > 200 and abs((y1 - y0) / (x1 - x0) - 128 / 96) < 1e-6

def test_crop_box_option_crops_that_box(tmp_path):
    from maskfast.data.cache import load_image
    a = np.zeros((512, 384, 3), np.uint8); a[:256, :192] = 255          # a white top-left quarter
    Image.fromarray(a).save(tmp_path / 'q.png')
    img = load_image(tmp_path / 'q.png', (64, 48), (0.0, 0.0, 0.5, 0.5))
    assert img.mean() > 250                                             # the box, at the target aspect, is all white

def test_faces_cli_writes_boxes_and_overlays(tmp_path):
    d = tmp_path / 'imgs'; d.mkdir(); Image.open(ASTRONAUT).save(d / 'astro.png'); (d / '._junk.jpg').write_bytes(b'x')
    r = subprocess.run([sys.executable, '-m', 'maskfast.faces', str(d), '--out', str(tmp_path / 'o'), '--workers', '1'],
                       capture_output=True, text=True, env={**os.environ, 'PYTHONWARNINGS': 'ignore'}, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    b = pd.read_csv(tmp_path / 'o' / 'boxes.csv')
    assert list(b.columns) == ['file', 'x0', 'y0', 'x1', 'y1', 'score'] and len(b) == 1 and b.score[0] > 0.9
    assert len(list((tmp_path / 'o' / 'overlays').glob('*.png'))) == 1

def test_crop_face_fit_and_predict_end_to_end(twin, tmp_path, capsys):
    from maskfast.learn.train import fit_run
    from maskfast.infer.submission import predict_eval
    from maskfast import load_learner
    res = fit_run(data=str(twin), out=str(tmp_path / 'f'), crop='face', **TINY)
    out = capsys.readouterr().out
    assert 'faces:' in out and 'have a face' in out
    cfg = __import__('json').loads((tmp_path / 'f' / 'model.json').read_text())
    assert cfg['crop'] == 'face' and len(cfg['face_fallback']) == 4
    sub, probs, images, groups = predict_eval([res['run_dir']], str(twin), None, tta=0, progress=False, return_cache=True)
    assert len(sub) == 56 and np.allclose(probs.sum(1), 1, atol=1e-3)
    # the person vote groups by thumbnails of a centre view, not of the face crops (mostly the mask region they blank)
    from maskfast.infer.persons import grouping_view, photo_groups, grouping_ari, group_people, thumb_features
    from maskfast.data.cache import open_images
    assert images.crop == 'face' and grouping_view(images).crop == 0.85 and grouping_view(grouping_view(images)).crop == 0.85
    centre = open_images(list(images.index['file']), (64, 48), 0.85, 'centre', verbose=False, progress=False)
    assert (groups == photo_groups(centre)).all()
    sol = __import__('pandas').read_csv(twin / 'eval' / 'solution.csv').set_index('ImageID')
    persons = sol.loc[[__import__('pathlib').Path(f).name for f in images.index['file']], 'person'].values
    own = group_people(thumb_features(images), min_sim=0.9)                          # thumbnails of the face crops themselves
    assert grouping_ari(groups, persons) > max(0.9, grouping_ari(own, persons))   # here 1.0 against 0.74
    words, _, p = load_learner(res['run_dir'], device='cpu').predict(str(ASTRONAUT))
    assert '/' in words and p.shape == (18,)
