"""The 18-class code of the competition, its three task labels, age relabelling and user label fixes."""
__all__ = ['MASKS', 'GENDERS', 'AGES', 'TASK_NAMES', 'STEM_MASK', 'N_CLASSES', 'encode', 'decode', 'age_group', 'relabel_ages',
           'boundary_mask', 'drop_age_boundary', 'class_name', 'load_label_fixes', 'apply_label_fixes', 'MaskClass']

from pathlib import Path
import numpy as np, pandas as pd

MASKS = ('wear', 'incorrect', 'normal')
GENDERS = ('male', 'female')
AGES = ('<30', '30-59', '>=60')
N_CLASSES = 18
TASK_NAMES = {'mask': MASKS, 'gender': GENDERS, 'age': AGES}
STEM_MASK = {**{f'mask{i}': 0 for i in range(1, 6)}, 'incorrect_mask': 1, 'normal': 2}

def encode(mask, gender, age):
    "18-class id from task labels: mask*6 + gender*3 + age (works on ints and arrays)."
    return np.asarray(mask) * 6 + np.asarray(gender) * 3 + np.asarray(age) if np.ndim(mask) else int(mask) * 6 + int(gender) * 3 + int(age)

def decode(label):
    "(mask, gender, age) task labels of an 18-class id (ints or arrays)."
    label = np.asarray(label) if np.ndim(label) else int(label)
    return label // 6, (label // 3) % 2, label % 3

def class_name(label):
    "Human readable name of an 18-class id, e.g. 'wear/female/30-59'."
    m, g, a = decode(int(label))
    return f'{MASKS[m]}/{GENDERS[g]}/{AGES[a]}'

def age_group(age, old_from=60, young_below=30):
    "Age class: 0 below `young_below`, 2 from `old_from` on, else 1."
    age = np.asarray(age)
    return np.where(age < young_below, 0, np.where(age >= old_from, 2, 1))

def relabel_ages(df, old_from=60):
    "Recompute `age_group` and `label` of an items frame, treating age >= `old_from` as the old class."
    df = df.copy()
    df['age_group'] = age_group(df['age'].values, old_from)
    df['label'] = encode(df['mask'].values, df['gender'].values, df['age_group'].values)
    return df

def boundary_mask(age, band=((28, 29), (57, 59))):
    """True where an age lies inside one of the inclusive `band` ranges around a class boundary. A torch tensor (a
    batch's ages in a loss, on its device) gives a bool tensor; anything else a numpy array."""
    age = age if hasattr(age, 'device') else np.asarray(age)
    out = age != age   # all False (ages are never NaN), in the input's own kind
    for lo, hi in band: out = out | ((age >= lo) & (age <= hi))
    return out

def drop_age_boundary(df, train_idx, band=((28, 29), (57, 59))):
    "Indices of `train_idx` kept after dropping people whose age lies in `band` (validation is never touched)."
    train_idx = np.asarray(train_idx)
    return train_idx[~boundary_mask(df['age'].values[train_idx], band)]

_FIXES = ('gender_swap', 'mask_swap', 'age', 'keep')   # keep: reviewed and left as is (maskfast.review)

def load_label_fixes(path):
    """Read label corrections from CSV (`folder,fix[,value]`) or YAML (`gender_swap: [folders]`,
    `mask_swap: [folders]`, `age: {folder: age}`); returns a DataFrame with columns folder, fix, value."""
    path = Path(path)
    if not path.exists(): raise FileNotFoundError(f'label-fix file {path} does not exist')
    if path.suffix.lower() in ('.yaml', '.yml'):
        import yaml
        data = yaml.safe_load(path.read_text()) or {}
        if not isinstance(data, dict): raise ValueError(f'{path}: expected a mapping with keys {_FIXES}')
        rows = []
        for fix, val in data.items():
            if fix not in _FIXES: raise ValueError(f'{path}: unknown fix {fix!r}; use one of {_FIXES}')
            if fix == 'age':
                if not isinstance(val, dict): raise ValueError(f'{path}: `age` must map folder -> age')
                rows += [(str(k), fix, v) for k, v in val.items()]
            else: rows += [(str(f), fix, None) for f in (val or [])]
        fixes = pd.DataFrame(rows, columns=['folder', 'fix', 'value'])
    else:
        fixes = pd.read_csv(path, dtype={'folder': str})
        missing = {'folder', 'fix'} - set(fixes.columns)
        if missing: raise ValueError(f'{path}: missing column(s) {sorted(missing)}; expected folder,fix[,value]')
        if 'value' not in fixes: fixes['value'] = None
        bad = sorted(set(fixes['fix']) - set(_FIXES))
        if bad: raise ValueError(f'{path}: unknown fix(es) {bad}; use one of {_FIXES}')
    ages = fixes['fix'] == 'age'
    if ages.any():
        vals = pd.to_numeric(fixes.loc[ages, 'value'], errors='coerce')
        if vals.isna().any():
            raise ValueError(f'{path}: age fix without a numeric value for {list(fixes.loc[ages][vals.isna()].folder)}')
    fixes = fixes[['folder', 'fix', 'value']]
    dup = fixes.duplicated(['folder', 'fix'], keep='first') & (fixes['fix'] != 'age')
    if dup.any():   # a swap listed twice must not swap back
        print(f'notice: {path}: {int(dup.sum())} repeated fix line(s) ignored, e.g. {fixes[dup].iloc[0].tolist()}')
        fixes = fixes[~dup]
    return fixes.reset_index(drop=True)

def apply_label_fixes(df, fixes, old_from=60):
    "Apply `fixes` (from `load_label_fixes`) to an items frame keyed by `folder`; unknown folders raise."
    if isinstance(fixes, (str, Path)): fixes = load_label_fixes(fixes)
    df = df.copy()
    unknown = sorted(set(fixes['folder']) - set(df['folder']))
    if unknown: raise ValueError(f'label fixes name folder(s) not in the data: {unknown[:5]}'
                                 f'{" ..." if len(unknown) > 5 else ""}; check the spelling against train/images')
    for row in fixes.itertuples():
        sel = df['folder'] == row.folder
        if row.fix == 'gender_swap': df.loc[sel, 'gender'] = 1 - df.loc[sel, 'gender']
        elif row.fix == 'keep': continue
        elif row.fix == 'mask_swap':
            m = df.loc[sel, 'mask']
            df.loc[sel, 'mask'] = np.where(m == 1, 2, np.where(m == 2, 1, m))
        else: df.loc[sel, 'age'] = int(float(row.value))
    return relabel_ages(df, old_from)

class MaskClass(str):
    "An 18-class id in words, 'wear/female/30-59', with `.id`, `.mask`, `.gender`, `.age` and `.words` (the three)."
    def __new__(cls, label):
        label = MASKS.index(label.split('/')[0]) * 6 + GENDERS.index(label.split('/')[1]) * 3 + AGES.index(label.split('/')[2]) \
            if isinstance(label, str) else int(label)
        self = super().__new__(cls, class_name(label))
        self.id = label
        self.mask, self.gender, self.age = self.words = tuple(self.split('/'))
        return self
    def __getnewargs__(self): return (self.id,)
