"""`python -m maskfast.synth DEST --people N --eval-people M --seed S`: draw a synthetic twin of the data set."""
__all__ = ['main']

import time
from fastcore.script import call_parse
from .data.twin import make_twin

@call_parse
def main(
    dest: str,                 # output root (train/, eval/ are created inside)
    people: int = 2700,        # training people (7 photos each)
    eval_people: int = 1800,   # eval people (7 photos each, hex names, answer key in eval/solution.csv)
    seed: int = 0,             # random seed
    mislabel: float = 0.01,    # share of training people with a wrong gender or swapped incorrect/normal photos
    workers: int = 0,          # processes (0 = all cores)
):
    "Write a synthetic twin in the competition layout."
    t = time.time()
    make_twin(dest, people, eval_people, seed, mislabel, workers or None)
    dt = time.time() - t
    print(f'wrote {people} + {eval_people} people ({7 * (people + eval_people)} images) to {dest} in {dt:.0f}s '
          f'({(people + eval_people) / dt:.0f} people/s)')
