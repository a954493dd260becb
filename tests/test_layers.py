"The package's layers: imports point down only (data <- learn <- infer <- viz/web <- experiments <- entry points), no cycles."
import ast
from pathlib import Path

PKG = Path(__file__).parent.parent / 'maskfast'
RANK = {'data': 0, 'learn': 1, 'infer': 2, 'viz': 3, 'web': 3, 'experiments': 4}
TOP = 5   # the python -m entry points at the top of the package

def _modules():
    "Dotted name -> path of every module of the package."
    return {'.'.join(('maskfast',) + p.relative_to(PKG).with_suffix('').parts).removesuffix('.__init__'): p
            for p in PKG.rglob('*.py')}

def _rank(mod):
    parts = mod.split('.')
    if len(parts) == 1: return -1                     # the package itself: lazy exports only
    return RANK.get(parts[1], TOP)

def _imports(mod, path):
    "Every maskfast module `mod` imports, module level or inside functions, relative imports resolved."
    pkg = mod if path.name == '__init__.py' else mod.rsplit('.', 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import): names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                anchor = pkg.split('.')[:len(pkg.split('.')) - node.level + 1]
                base = '.'.join(anchor + ([base] if base else []))
            names = [base] + [f'{base}.{a.name}' for a in node.names]
        else: continue
        out |= {n for n in names if n.startswith('maskfast')}
    return out

def _resolve(name, mods):
    "The module an imported name lives in (a name imported from a module resolves to that module)."
    while name not in mods and '.' in name: name = name.rsplit('.', 1)[0]
    return name if name in mods else None

def test_imports_point_down_only():
    mods = _modules(); bad = []
    for mod, path in mods.items():
        for imp in _imports(mod, path):
            tgt = _resolve(imp, mods)
            if tgt is None or tgt == mod: continue
            if _rank(tgt) > _rank(mod) and _rank(mod) != -1: bad.append(f'{mod} imports {tgt}')
            if _rank(tgt) == TOP and mod != 'maskfast': bad.append(f'{mod} imports the entry point {tgt}')
    assert not bad, '\n'.join(bad)

def test_no_import_cycles():
    mods = _modules()
    graph = {m: {t for i in _imports(m, p) if (t := _resolve(i, mods)) and t != m and t != 'maskfast'} for m, p in mods.items()}
    seen, stack, cycles = set(), [], []
    def visit(m):
        if m in stack: cycles.append(stack[stack.index(m):] + [m]); return
        if m in seen: return
        seen.add(m); stack.append(m)
        for t in graph[m]: visit(t)
        stack.pop()
    for m in graph: visit(m)
    assert not cycles, cycles[:3]

def test_every_library_module_sits_in_a_layer_and_entry_points_are_thin():
    mods = _modules()
    top = [m for m in mods if m.count('.') == 1]
    assert {'maskfast.fit', 'maskfast.predict', 'maskfast.score', 'maskfast.pseudo', 'maskfast.synth', 'maskfast.eda',
            'maskfast.bench'} <= set(top)
    for m in top: assert len(mods[m].read_text().splitlines()) <= 60, f'{m} is not a thin entry point'
    assert {m.split('.')[1] for m in mods if m.count('.') == 2} <= set(RANK)

def test_starting_maskfast_prints_no_torchscript_deprecation():
    "fastai's import jit-scripts its activations and torch 2.14 warns for each: maskfast filters that one warning only."
    import subprocess, sys
    code = 'import maskfast, warnings, fastai.vision.all; warnings.warn("still shown", FutureWarning)'
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert r.returncode == 0 and 'torch.jit.script' not in r.stderr and 'still shown' in r.stderr
