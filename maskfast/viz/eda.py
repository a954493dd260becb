"""Exploratory pictures of a data folder: balance, age histogram, sample grid, file census, junk and corrupt files."""
__all__ = ['run_eda']

from pathlib import Path
import numpy as np, pandas as pd
from ..data.labels import class_name, AGES, GENDERS
from ..data.layout import read_train, check_images, is_junk
from ..data.twin import default_twin

def run_eda(data=None, out='eda', check=False, old_from=60):
    "Write balance/age/sample/census PNGs and summary.md to `out`; returns the summary text."
    import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt
    from PIL import Image
    if data is None: data = default_twin()
    out = Path(out); out.mkdir(parents=True, exist_ok=True)
    df = read_train(data, old_from, verbose=False)
    people = df.drop_duplicates('folder')
    fig, axs = plt.subplots(1, 2, figsize=(14, 4), gridspec_kw={'width_ratios': [3, 1]})
    counts = df.label.value_counts().reindex(range(18), fill_value=0)
    axs[0].bar([class_name(i) for i in range(18)], counts.values); axs[0].tick_params(axis='x', rotation=90, labelsize=7)
    axs[0].set_title('images per class')
    pd.DataFrame({'gender': people.gender.map(dict(enumerate(GENDERS))).value_counts(),
                  }).plot.bar(ax=axs[1], legend=False, title='people per gender')
    fig.tight_layout(); fig.savefig(out / 'balance.png', dpi=80); plt.close(fig)
    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.hist(people.age, bins=np.arange(people.age.min(), people.age.max() + 2) - 0.5)
    for b in (30, old_from): ax.axvline(b - 0.5, color='r', ls='--')
    ax.set_title('people per age (red: class boundaries)'); fig.tight_layout(); fig.savefig(out / 'ages.png', dpi=80); plt.close(fig)
    fig, axs = plt.subplots(3, 6, figsize=(12, 8))
    rng = np.random.default_rng(0)
    for c, ax in enumerate(axs.flat):
        sel = df.file[df.label == c]
        if len(sel):
            with Image.open(sel.iloc[rng.integers(len(sel))]) as im: ax.imshow(im.convert('RGB'))
        ax.set_title(class_name(c), fontsize=7); ax.axis('off')
    fig.tight_layout(); fig.savefig(out / 'samples.png', dpi=70); plt.close(fig)
    files = [f for f in (Path(data) / 'train' / 'images').rglob('*') if f.is_file()]
    junk = [f for f in files if is_junk(f)]
    exts = pd.Series([f.suffix.lower() for f in files if not is_junk(f)]).value_counts()
    sizes = pd.Series([Image.open(f).size for f in df.file.sample(min(200, len(df)), random_state=0)]).value_counts()
    bad = check_images(df.file, verbose=False) if check else []
    text = '\n'.join([f'# EDA of {data}', '', f'- {len(people)} people, {len(df)} images; '
                      f'{(people.gender == 1).mean():.1%} female; ages {people.age.min()}-{people.age.max()}',
                      '- age groups (people): ' + ', '.join(f'{AGES[i]} {n}' for i, n in people.age_group.value_counts().sort_index().items()),
                      '- extensions: ' + ', '.join(f'{k} {v}' for k, v in exts.items()),
                      '- image sizes (W x H, sample of 200): ' + ', '.join(f'{k[0]}x{k[1]} {v}' for k, v in sizes.items()),
                      f'- junk files skipped: {len(junk)}' + ''.join(f'\n  - {f}' for f in junk[:20]),
                      '- unreadable images: ' + (f'{len(bad)}' + ''.join(f'\n  - {f}: {w}' for f, w in bad[:20]) if check else 'not checked (use --check)'),
                      '', '![balance](balance.png)', '![ages](ages.png)', '![samples](samples.png)', ''])
    (out / 'summary.md').write_text(text)
    return text
