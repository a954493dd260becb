"Execute every notebook in nbs/ on a tiny twin with a small budget (the cell tagged `parameters` is replaced)."
from pathlib import Path
import nbformat, pytest
from nbclient import NotebookClient

NBS = Path(__file__).parent.parent / 'nbs'
TINY = "PEOPLE, EVAL_PEOPLE, SEED = 30, 6, 1\nOUT, FIGS = 'runs/nb', 'figs'\n"
PARAMS = {
    '00_quickstart': TINY + "SIZE, BS, EPOCHS, ARCH, HEAD = (64, 32), 32, 1, 'resnet18', 'multi'\nPRECISION = 'fp32'\nLR_ITS = 10",
    '01_lessons': TINY + "FIT = dict(epochs=1, size=(64, 32), bs=16, lr=1e-3, quiet=True, precision='fp32')\nSEEDS, N_LESSONS, MAIN, SKIP = (0, 1), 3, 2, ()\nCEILING_PEOPLE = 3000",
    '02_gradcam': TINY + "FIT = dict(size=(64, 32), bs=16, epochs=1, lr=1e-3, quiet=True, precision='fp32')",
    '03_custom_data': TINY + "REAL = None\nFIT = dict(size=(64, 32), bs=16, epochs=1, lr=1e-3, quiet=True, precision='fp32')",
}

@pytest.mark.parametrize('name', sorted(PARAMS))
def test_notebook_runs(name, tmp_path):
    nb = nbformat.read(NBS / f'{name}.ipynb', as_version=4)
    cells = [c for c in nb.cells if 'parameters' in c.get('metadata', {}).get('tags', [])]
    assert len(cells) == 1, f'{name}: needs exactly one cell tagged parameters'
    cells[0].source = PARAMS[name]
    NotebookClient(nb, timeout=600, kernel_name='python3', resources={'metadata': {'path': str(tmp_path)}}).execute()
    figs = {p.name for p in (tmp_path / 'figs').glob('*.png')}
    expected = {'00_quickstart': {'quickstart_confusion.png', 'quickstart_balance.png'}, '01_lessons': {'lessons.png'},
                '02_gradcam': {'gradcam_class.png', 'gradcam_age.png'}, '03_custom_data': set()}[name]
    assert expected <= figs
    if name == '00_quickstart': assert (tmp_path / 'submission.csv').exists()
    if name == '03_custom_data': assert (tmp_path / 'runs/nb/with_fixes/model.pth').exists()
