import os, time, numpy as np, pytest
from PIL import Image
from maskfast.data.cache import build_cache, load_image, dataset_stats

@pytest.fixture
def imgs(tmp_path):
    rng = np.random.default_rng(0); files = []
    for i, ext in enumerate(['.jpg', '.png', '.jpeg', '.jpg']):
        f = tmp_path / f'i{i}{ext}'; Image.fromarray(rng.integers(0, 255, (512, 384, 3), dtype=np.uint8)).save(f); files.append(f)
    Image.fromarray(rng.integers(0, 255, (512, 384), dtype=np.uint8)).save(tmp_path / 'grey.png')
    Image.fromarray(rng.integers(0, 255, (512, 384, 4), dtype=np.uint8)).save(tmp_path / 'rgba.png')
    return files + [tmp_path / 'grey.png', tmp_path / 'rgba.png']

def test_cache_equals_uncached(imgs, tmp_path):
    c = build_cache(imgs, (64, 48), 0.85, cache_dir=tmp_path / 'c', progress=False, verbose=False)
    assert c.array.shape == (6, 64, 48, 3) and c.ok.all()
    for i, f in enumerate(imgs): assert (c[i] == load_image(f, (64, 48), 0.85)).all()
    assert isinstance(c.array, np.memmap)

def test_cache_invalidation(imgs, tmp_path, capsys):
    kw = dict(cache_dir=tmp_path / 'c', progress=False)
    build_cache(imgs, (64, 48), **kw); capsys.readouterr()
    build_cache(imgs, (64, 48), **kw); assert 'reusing' in capsys.readouterr().out
    Image.fromarray(np.zeros((512, 384, 3), np.uint8)).save(imgs[1]); os.utime(imgs[1], ns=(time.time_ns(), time.time_ns() + 10**9))
    c = build_cache(imgs, (64, 48), **kw)
    assert '1 decoded, 5 reused' in capsys.readouterr().out
    assert c[1].max() == 0 and (c[0] == load_image(imgs[0], (64, 48))).all()
    build_cache(imgs, (32, 24), **kw); assert '6 decoded' in capsys.readouterr().out   # a changed parameter rebuilds

def test_corrupt_file_reported_not_cached(imgs, tmp_path, capsys):
    bad = tmp_path / 'bad.jpg'; bad.write_bytes(imgs[0].read_bytes()[:100])
    empty = tmp_path / 'empty.jpg'; empty.write_bytes(b'')
    c = build_cache(imgs + [bad, empty], (64, 48), cache_dir=tmp_path / 'c', progress=False)
    out = capsys.readouterr().out
    assert str(bad) in out and str(empty) in out and '2 unreadable' in out
    assert list(c.ok) == [True] * 6 + [False, False] and set(c.bad) == {str(bad), str(empty)}
    c2 = build_cache(imgs + [bad, empty], (64, 48), cache_dir=tmp_path / 'c', progress=False)
    assert list(c2.ok) == list(c.ok)

def test_stats_cached(imgs, tmp_path):
    c = build_cache(imgs, (64, 48), cache_dir=tmp_path / 'c', progress=False, verbose=False)
    m, s = dataset_stats(c)
    assert 0.4 < m[0] < 0.6 and (c.path.with_suffix('.stats.json')).exists()
    assert dataset_stats(c) == (m, s)

def test_no_cache_reads_what_the_cache_holds(imgs, tmp_path, capsys):
    from maskfast.data.cache import open_images, DecodedImages
    bad = tmp_path / 'bad.jpg'; bad.write_bytes(b'not an image')
    files = imgs + [bad]
    c = build_cache(files, (64, 48), cache_dir=tmp_path / 'c', progress=False, verbose=False)
    d = open_images(files, (64, 48), cache=False)
    assert isinstance(d, DecodedImages) and str(bad) in capsys.readouterr().out
    assert list(d.ok) == list(c.ok) and d.bad == c.bad and len(d) == len(c) and d.array.shape == c.array.shape
    rows = [3, 0, 6, 5]
    assert (d.read(rows) == c.read(rows)).all() and (d.array[rows] == c.array[rows]).all() and (d[2] == c[2]).all()
    assert d.read([6]).max() == 0                                   # unreadable: zeros, as in the cache
    assert not list(tmp_path.glob('**/*.u8'))[1:]                  # only the cache made a file
    assert np.allclose(dataset_stats(d), dataset_stats(c))
