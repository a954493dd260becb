import shutil, pandas as pd, pytest
from PIL import Image
from maskfast.data.layout import read_train, read_eval, read_people, check_images, LayoutError, parse_folder
from maskfast.data.labels import encode

def test_read_twin(twin, capsys):
    df = read_train(twin)
    people = pd.read_csv(twin / 'train' / 'train.csv', dtype={'id': str})
    assert df.folder.nunique() == len(people) == 40
    assert len(df) == 7 * 40
    assert not df.file.str.contains('/._').any()
    assert set(df.stem) == {'mask1', 'mask2', 'mask3', 'mask4', 'mask5', 'incorrect_mask', 'normal'}
    row = df.iloc[0]
    assert row.label == encode(row['mask'], row.gender, row.age_group)
    assert 'junk file(s) skipped' in capsys.readouterr().out
    # a duplicated id keeps two people, keyed by folder
    assert people.id.duplicated().sum() == 1 and df.groupby('folder').size().eq(7).all()

def test_read_eval_order(twin):
    info = read_eval(twin)
    assert list(info.ImageID) == list(pd.read_csv(twin / 'eval' / 'info.csv').ImageID)
    assert info.ImageID.str.fullmatch(r'[0-9a-f]{40}\.jpg').all()

def test_bad_layouts(tmp_path, twin):
    with pytest.raises(LayoutError, match='train/images'): read_train(tmp_path)
    (tmp_path / 'train' / 'images' / 'not-a-person').mkdir(parents=True)
    with pytest.raises(LayoutError, match='not-a-person'): read_train(tmp_path)
    with pytest.raises(LayoutError, match='info.csv'): read_eval(tmp_path)
    (tmp_path / 'eval').mkdir(); (tmp_path / 'eval' / 'info.csv').write_text('ImageID,ans\nnope.jpg,0\n')
    with pytest.raises(LayoutError, match='nope.jpg'): read_eval(tmp_path)
    assert parse_folder('001498-1_female_Asian_60') == ('001498-1', 'female', 'Asian', 60)

def test_missing_and_duplicated_stems_warn_and_keep(tmp_path, twin):
    root = tmp_path / 'd'; shutil.copytree(twin / 'train', root / 'train')
    folders = sorted(p for p in (root / 'train' / 'images').iterdir())
    (folders[0] / 'normal.jpg').unlink(missing_ok=True); [p.unlink() for p in folders[0].glob('normal.*')]
    src = next(folders[1].glob('mask1.*')); shutil.copy(src, folders[1] / 'mask1.png' if src.suffix != '.png' else folders[1] / 'mask1.jpg')
    with pytest.warns(UserWarning, match='missing'):
        df = read_train(root)
    assert (df.folder == folders[0].name).sum() == 6 and (df.folder == folders[1].name).sum() == 7

def test_gender_from_csv_not_guess(tmp_path):
    root = tmp_path / 'r'; d = root / 'train' / 'images' / '000001_male_Asian_30'; d.mkdir(parents=True)
    Image.new('RGB', (384, 512)).save(d / 'normal.jpg')
    (root / 'train' / 'train.csv').write_text('id,gender,race,age,path\n000001,male,Asian,30,000001_male_Asian_30\n000002,female,Asian,20,gone\n')
    with pytest.raises(LayoutError, match='gone'): read_people(root)

def test_check_images_finds_broken(tmp_path):
    good = tmp_path / 'g.jpg'; Image.new('RGB', (8, 8)).save(good)
    (tmp_path / 'z.jpg').write_bytes(b''); (tmp_path / 't.jpg').write_bytes(good.read_bytes()[:40])
    bad = dict(check_images([good, tmp_path / 'z.jpg', tmp_path / 't.jpg'], verbose=False))
    assert set(bad) == {str(tmp_path / 'z.jpg'), str(tmp_path / 't.jpg')}
