"""`python -m maskfast.eda --data ROOT --out DIR`: balance, age histogram, sample grid, file census, junk/corrupt list
(library: `maskfast.viz.eda.run_eda`)."""
__all__ = ['main']

from fastcore.script import call_parse, store_true
from .viz.eda import run_eda

@call_parse
def main(
    data: str = None,           # competition root (default: the embedded synthetic twin)
    out: str = 'eda',           # output folder
    check: store_true = False,  # fully decode every image to list corrupt files
    old_from: int = 60,         # age boundary of the old class
):
    "Exploratory pictures and a markdown summary of a data folder."
    print(run_eda(data, out, check, old_from))
