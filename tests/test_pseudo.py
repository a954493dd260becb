from conftest import TINY
import maskfast.learn.train as train_mod
from maskfast.infer.pseudo import pseudo_rounds

def test_pseudo_labels_never_in_validation(twin, tmp_path, monkeypatch):
    seen = []
    orig = train_mod.mask_dataloaders
    def spy(df, caches, tr, va, **kw):
        seen.append((df.iloc[tr].copy(), df.iloc[va].copy())); return orig(df, caches, tr, va, **kw)
    monkeypatch.setattr(train_mod, 'mask_dataloaders', spy)
    summary = pseudo_rounds(str(twin), rounds=1, threshold=0.0, tta=0, out=str(tmp_path / 'p'), **TINY)
    (tr0, va0), (tr1, va1) = seen
    assert (tr1.stem == 'pseudo').sum() == 8 * 7 and (va1.stem == 'pseudo').sum() == 0
    assert list(va0.file) == list(va1.file) and (tr0.stem != 'pseudo').all()
    assert not set(tr0.folder) & set(va0.folder) and not set(tr1.folder.dropna()) & set(va1.folder)   # rounds hold out
    assert list(summary.columns[:3]) == ['round', 'images_added', 'valid_f1'] and list(summary.images_added) == [0, 56]
    assert (tmp_path / 'p' / 'submission.csv').exists() and (tmp_path / 'p' / 'round1' / 'model.pth').exists()
