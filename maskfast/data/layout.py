"""Read the competition folders (train/train.csv, person folders, eval/info.csv) into item frames."""
__all__ = ['IMAGE_EXTS', 'LayoutError', 'parse_folder', 'read_people', 'read_train', 'read_eval', 'check_images',
           'is_junk', 'read_external']

import re, warnings
from pathlib import Path
import pandas as pd
from .labels import STEM_MASK, encode, age_group

IMAGE_EXTS = ('.jpg', '.jpeg', '.png')
_FOLDER_RE = re.compile(r'^(?P<id>[^_]+)_(?P<gender>male|female)_(?P<race>[^_]+)_(?P<age>\d{1,3})$', re.I)

class LayoutError(ValueError):
    "The data folder is not in the competition layout; the message says what is missing and what to do."

def is_junk(p):
    "macOS `._` forks, hidden files and anything that is not an image stem we know."
    return p.name.startswith('.') or p.suffix.lower() not in IMAGE_EXTS or p.stem not in STEM_MASK

def parse_folder(name):
    "(id, gender, race, age) from a person folder name `{id}_{gender}_{race}_{age}`."
    m = _FOLDER_RE.match(name)
    if not m: raise LayoutError(f'person folder {name!r} does not parse as {{id}}_{{gender}}_{{race}}_{{age}} '
                                '(e.g. 000001_female_Asian_45); rename it or list it in train.csv')
    return m['id'], m['gender'].lower(), m['race'], int(m['age'])

def read_people(root):
    "One row per person folder: folder, id, gender (0 male / 1 female), race, age; from train.csv when present."
    root = Path(root).resolve(); img_dir = root / 'train' / 'images'
    if not img_dir.is_dir():
        raise LayoutError(f'{img_dir} not found: --data must point at the competition root holding '
                          'train/images/<person folders> (and train/train.csv, eval/info.csv)')
    csv = root / 'train' / 'train.csv'
    if csv.exists():
        people = pd.read_csv(csv, dtype={'id': str, 'path': str})
        missing = {'gender', 'age', 'path'} - set(people.columns)
        if missing: raise LayoutError(f'{csv}: missing column(s) {sorted(missing)}; expected id,gender,race,age,path')
        people = people.rename(columns={'path': 'folder'})
        absent = [f for f in people['folder'] if not (img_dir / f).is_dir()]
        if absent: raise LayoutError(f'{csv} names {len(absent)} folder(s) missing under {img_dir}, '
                                     f'e.g. {absent[:3]}; fix train.csv or restore the folders')
        bad = sorted(set(people['gender'].str.lower()) - {'male', 'female'})
        if bad: raise LayoutError(f'{csv}: gender must be male/female, found {bad}')
        people['gender'] = people['gender'].str.lower()
    else:
        folders = sorted(p.name for p in img_dir.iterdir() if p.is_dir() and not p.name.startswith('.'))
        people = pd.DataFrame([(f, *parse_folder(f)) for f in folders],
                              columns=['folder', 'id', 'gender', 'race', 'age'])
    dup = people['folder'][people['folder'].duplicated()]
    if len(dup): raise LayoutError(f'{csv}: folder(s) listed twice: {list(dup)[:5]}')
    people['gender'] = (people['gender'] == 'female').astype(int)
    people['age'] = people['age'].astype(int)
    return people[['folder', 'id', 'gender', 'race', 'age']].reset_index(drop=True)

def read_train(root, old_from=60, verbose=True):
    """One row per training image: file, folder (the person key), id, stem, gender, age, mask, age_group, label.
    Junk files are skipped and counted; a person with missing or duplicated stems is warned about and kept."""
    root = Path(root).resolve(); img_dir = root / 'train' / 'images'
    people = read_people(root)
    rows, junk, problems = [], 0, []
    for p in people.itertuples():
        seen = {}
        for f in sorted((img_dir / p.folder).iterdir()):
            if not f.is_file() or is_junk(f): junk += 1; continue
            if f.stem in seen: problems.append(f'{p.folder}: duplicated {f.stem} ({seen[f.stem].name}, {f.name}); kept the first'); continue
            seen[f.stem] = f
        missing = sorted(set(STEM_MASK) - set(seen))
        if missing: problems.append(f'{p.folder}: missing {missing}')
        rows += [(str(f), p.folder, p.id, s, p.gender, p.age, STEM_MASK[s]) for s, f in seen.items()]
    for msg in problems[:10]: warnings.warn(msg)
    if len(problems) > 10: warnings.warn(f'... and {len(problems) - 10} more person folders with missing/duplicated stems')
    df = pd.DataFrame(rows, columns=['file', 'folder', 'id', 'stem', 'gender', 'age', 'mask'])
    if df.empty: raise LayoutError(f'no images found under {img_dir}; expected mask1..5/incorrect_mask/normal per person')
    df['age_group'] = age_group(df['age'].values, old_from)
    df['label'] = encode(df['mask'].values, df['gender'].values, df['age_group'].values)
    if verbose: print(f'train: {len(df)} images of {df.folder.nunique()} people, {junk} junk file(s) skipped, '
                      f'{len(problems)} folder(s) with missing/duplicated stems')
    return df

def read_eval(root):
    "The eval images in `eval/info.csv` order: ImageID, file; missing files are an error listing the first few."
    root = Path(root).resolve(); csv = root / 'eval' / 'info.csv'
    if not csv.exists(): raise LayoutError(f'{csv} not found: predictions need eval/info.csv and eval/images/')
    info = pd.read_csv(csv, dtype={'ImageID': str})
    if 'ImageID' not in info: raise LayoutError(f'{csv}: no ImageID column')
    info['file'] = [str(root / 'eval' / 'images' / i) for i in info['ImageID']]
    missing = [i for i, f in zip(info['ImageID'], info['file']) if not Path(f).exists()]
    if missing: raise LayoutError(f'{csv} names {len(missing)} image(s) missing from {root/"eval"/"images"}, '
                                  f'first: {missing[:5]}')
    return info

def check_images(files, verbose=True):
    "Open and fully decode each file; returns the list of (file, reason) that are unreadable, truncated or empty."
    from PIL import Image
    bad = []
    for f in files:
        try:
            if Path(f).stat().st_size == 0: raise OSError('zero-byte file')
            with Image.open(f) as im: im.load()
        except Exception as e: bad.append((str(f), f'{type(e).__name__}: {e}'))
    if verbose:
        print(f'checked {len(files)} image(s): {len(bad)} unreadable')
        for f, why in bad[:20]: print(f'  {f}: {why}')
    return bad

def read_external(csv, old_from=60):
    """External labelled images from a simple CSV `path,gender,age,mask` (gender male/female or 0/1; mask
    wear/incorrect/normal or 0/1/2; optional `person` column); relative paths are resolved from the CSV's folder."""
    from .labels import MASKS, GENDERS
    csv = Path(csv); ext = pd.read_csv(csv)
    missing = {'path', 'gender', 'age', 'mask'} - set(ext.columns)
    if missing: raise LayoutError(f'{csv}: missing column(s) {sorted(missing)}; expected path,gender,age,mask[,person]')
    def code(col, names):
        v = ext[col].astype(str).str.lower().map(lambda s: names.index(s) if s in names else (int(s) if s.isdigit() else -1))
        bad = ext.loc[~v.between(0, len(names) - 1), col]
        if len(bad): raise LayoutError(f'{csv}: bad {col} value(s) {list(bad[:3])}; use {names} or 0..{len(names) - 1}')
        return v.astype(int)
    files = [str(p if Path(p).is_absolute() else csv.parent / p) for p in ext['path']]
    absent = [f for f in files if not Path(f).exists()]
    if absent: raise LayoutError(f'{csv} names {len(absent)} missing image(s), first: {absent[:3]}')
    df = pd.DataFrame({'file': files, 'folder': ext['person'].astype(str) if 'person' in ext else None, 'id': None,
                       'stem': 'external', 'gender': code('gender', list(GENDERS)), 'age': ext['age'].astype(int),
                       'mask': code('mask', list(MASKS))})
    df['age_group'] = age_group(df['age'].values, old_from)
    df['label'] = encode(df['mask'].values, df['gender'].values, df['age_group'].values)
    return df
