from maskfast.viz.eda import run_eda

def test_eda_pictures_and_summary(twin, tmp_path):
    text = run_eda(str(twin), tmp_path / 'eda', check=True)
    for f in ('balance.png', 'ages.png', 'samples.png', 'summary.md'):
        assert (tmp_path / 'eda' / f).stat().st_size > 100, f
    assert '40 people, 280 images' in text and 'junk files skipped' in text and 'unreadable images: 0' in text
