"""`python -m maskfast.cue_probe TRAIN_TWIN TEST_TWIN...`: which of the twin's cues its pixels let a model read at all.
A probe (the default's body and input) learns the cues the generator drew for the people of TRAIN_TWIN's eval set from
their photos, then reads the eval photos of TEST_TWIN (other people): R^2 per cue, and the macro F1 of an observer of
its outputs next to the same observer of the true cues (library: `maskfast.experiments.cue_probe`)."""
__all__ = ['main']

import json
from typing import Annotated
from fastcore.script import call_parse, CliError

@call_parse
def main(
    train: str,                                  # twin whose eval photos and eval/cues.csv the probe learns from
    test: Annotated[str, 'twins whose eval photos it is scored on (other people)', {'nargs': '+', 'opt': False}],
    epochs: int = 8,                             # probe epochs (each: 3 photos of every person; ~75 s for 2,000 people here)
    seed: int = 0,                               # seed of the probe's weights, photo draws and flips
    out: str = None,                             # also write every number as JSON here
):
    "R^2 per cue of a probe trained on the twin's own cue values, and observers of its outputs and of the true cues."
    from .experiments.cue_probe import cue_probe
    try: r = cue_probe(train, test, epochs, seed=seed)
    except (ValueError, FileNotFoundError) as e: raise CliError(f'maskfast.cue_probe: {e}') from None
    print('R^2 of each cue on the test people (the photos that show it): ' + '  '.join(f'{k} {v:.2f}' for k, v in r['r2'].items()))
    print('observers (gradient boosting, 5 folds by person, per photo, arg-max; macro F1):')
    for k, v in r['observers'].items(): print(f"  {k:34s} 18-class {v['f1']:.4f}  gender {v['gender']:.4f}  age {v['age']:.4f}")
    if out:
        with open(out, 'w') as f: json.dump({k: v for k, v in r.items() if k != 'outputs'}, f, indent=1, default=float)
        print(f'wrote {out}')
    return r
