"Batch-level loading from the cache gives exactly what fastai's per-item pipeline gives, faster."
import numpy as np, pytest, torch
from fastai.data.transforms import IntToFloatTensor, Normalize
from fastai.torch_core import TensorImage
from maskfast.data.splits import fold_indices
from maskfast.data.block import mask_dataloaders
from maskfast.data.loader import normalize_u8, CachedBatchDL

def test_read_equals_memmap(items):
    _, (c,) = items
    rows = np.array([5, 0, 17, 5, len(c) - 1])
    assert (c.read(rows) == c.array[rows]).all() and c.read([]).shape == (0, 64, 32, 3)

@pytest.mark.parametrize('layout', ['contiguous', 'channels_last'])
def test_normalize_u8_matches_fastai(layout):
    x = torch.randint(0, 256, (4, 64, 32, 3), dtype=torch.uint8).permute(0, 3, 1, 2)
    if layout == 'contiguous': x = x.contiguous()
    mean, std = [0.5, 0.4, 0.3], [0.2, 0.25, 0.3]
    ref = Normalize.from_stats(mean, std, cuda=False)(IntToFloatTensor()(TensorImage(x.contiguous())))
    assert torch.allclose(normalize_u8(x, mean, std), ref, atol=1e-5)

@pytest.mark.parametrize('target', ['single', 'multi'])
def test_batch_path_equals_item_path(items, target):
    df, caches = items
    tr, va = fold_indices(df, 0, 4)
    fast = mask_dataloaders(df, caches, tr, va, target=target, preset='none', bs=8, seed=0)
    slow = mask_dataloaders(df, caches, tr, va, target=target, preset='none', bs=8, seed=0, batch_loading=False)
    assert isinstance(fast.train, CachedBatchDL) and fast.valid.caches is not None and slow.valid.caches is None
    for a, b in zip(fast.valid, slow.valid):        # every validation batch, in order
        assert len(a) == len(b) == 2 + 2 * (target == 'multi')
        assert all(type(u) is type(v) and u.dtype == v.dtype and torch.equal(u, v) for u, v in zip(a, b))
    torch.manual_seed(3); np.random.seed(3); a = fast.train.one_batch()
    torch.manual_seed(3); np.random.seed(3); b = slow.train.one_batch()   # same draw of items
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    dec = fast.decode_batch(fast.valid.one_batch(), max_n=2)        # show_batch's path still decodes
    assert dec[0][0].shape == (3, 64, 32) and 0 <= float(dec[0][0].min()) and float(dec[0][0].max()) <= 1

def test_augmentation_on_training_batches_only(items):
    df, caches = items
    tr, va = fold_indices(df, 0, 4)
    dls = mask_dataloaders(df, caches, tr, va, preset='heavy', bs=8, seed=0)
    dl = dls.train.new(shuffle=False)               # training split, fixed order
    raw = caches[0].read(dl.dataset.items['row'].values[:8])
    x = dl.gather(np.arange(8), augment=True)
    assert x.shape == raw.shape and x.dtype == np.uint8 and not (x == raw).all()
    v = dls.valid.gather(np.arange(8))
    assert (v == caches[0].read(dls.valid.dataset.items['row'].values[:8])).all()
    xb = dls.valid.one_batch()[0]
    assert xb.is_contiguous(memory_format=torch.channels_last)     # what ChannelsLastMemory wants, without a copy

def test_sharp_preset_moves_pixels_without_blending_them():
    from maskfast.data.augment import train_aug
    img = np.full((64, 32, 3), 180, np.uint8); img[30, 4:28] = 120          # a dark 1-px line on flat skin
    light, sharp = train_aug('light', seed=0), train_aug('sharp', seed=0)
    def values(aug):   # every value its shift/scale/turn writes over 8 draws
        affine = next(t for t in aug.transforms if type(t).__name__ == 'Affine')
        return {int(v) for v in np.unique(np.concatenate([affine(image=img)['image'].ravel() for _ in range(8)]))}
    blended, kept = values(light), values(sharp)
    assert kept == {120, 180} and len(blended - {120, 180}) > 5   # sharp keeps the line's value; light blends it away

def test_shift_preset_moves_whole_pixels_and_keeps_sizes():
    from maskfast.data.augment import train_aug, PRESETS
    from maskfast.learn.config import FitConfig
    import dataclasses
    aug_field = next(f for f in dataclasses.fields(FitConfig) if f.name == 'aug')
    assert tuple(aug_field.metadata['cli']['choices']) == PRESETS     # the CLI offers every preset, and only those
    img = np.full((64, 48, 3), 180, np.uint8); img[30, 10:34] = 120; img[40:43, 10:34] = 60   # a 1-px and a 3-px line
    shift = train_aug('shift', seed=0)
    affine = next(t for t in shift.transforms if type(t).__name__ == 'Affine')
    moved = 0
    for _ in range(12):
        out = affine(image=img)['image'][..., 0]
        assert set(np.unique(out)) <= {60, 120, 180}                 # no value blended
        rows = lambda v: sorted(set(np.nonzero(out == v)[0]))
        assert len(rows(120)) == 1 and len(rows(60)) == 3             # each line keeps its width ...
        assert (out == 120).sum() == 24 and (out == 60).sum() == 72   # ... and its length (no scaling, no turn)
        moved += rows(120)[0] != 30
    assert moved >= 3                                                 # and it does move them

def test_random_erasing_fills_one_rectangle_of_one_colour_on_training_batches(items):
    from maskfast.data.augment import train_aug
    img = np.random.default_rng(0).integers(0, 256, (64, 48, 3), dtype=np.uint8)
    assert not any(type(t).__name__ == 'Erasing' for t in train_aug('light', seed=0).transforms)   # off unless asked
    aug = train_aug('none', seed=0, erase=1.0)
    for _ in range(6):
        out = aug(image=img)['image']
        ys, xs = np.nonzero((out != img).any(-1))
        assert len(ys) > 0.02 * 64 * 48 * 0.5                       # something sizeable was erased
        box = out[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
        assert (box == box[0, 0]).all()                              # one rectangle, one colour
        assert ys.size <= 0.33 * 64 * 48 + 1
    with pytest.raises(ValueError, match='probability'): train_aug('light', erase=1.5)
    df, caches = items
    tr, va = fold_indices(df, 0, 4)
    dls = mask_dataloaders(df, caches, tr, va, preset='none', bs=8, seed=0, erase=1.0)
    assert any(type(t).__name__ == 'Erasing' for t in dls.train.aug.transforms)
    v = dls.valid.gather(np.arange(8))
    assert (v == caches[0].read(dls.valid.dataset.items['row'].values[:8])).all()   # validation photos untouched
