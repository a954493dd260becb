"""Pretrained weights: the cache is used without any network; offline with nothing cached it fails within seconds,
naming the file to put where and --weights; HF_HUB_OFFLINE is honoured, never set. The network is cut by a proxy on
a closed local port (every request refused at once), so these tests mean the same online and offline."""
import os, subprocess, sys, textwrap, time
import pytest

def _env(tmp_path, **extra):
    cut = 'http://127.0.0.1:9'
    env = {**os.environ, 'HF_HOME': str(tmp_path / 'hf'), 'TORCH_HOME': str(tmp_path / 'th'), 'PYTHONWARNINGS': 'ignore',
           'HTTPS_PROXY': cut, 'https_proxy': cut, 'HTTP_PROXY': cut, 'http_proxy': cut, 'NO_PROXY': '', 'no_proxy': ''}
    env.pop('HF_HUB_OFFLINE', None)
    return {**env, **extra}

def _run(code, env, timeout=120):
    t = time.time()
    r = subprocess.run([sys.executable, '-c', textwrap.dedent(code)], capture_output=True, text=True, env=env, timeout=timeout)
    return r, time.time() - t

FAIL = '''
    import time
    from maskfast.learn.pretrained import pretrained_state_dict, WeightsError
    for arch in ('resnet18', 'tv_resnet18'):
        t = time.time()
        try: pretrained_state_dict(arch); print('LOADED', arch)
        except WeightsError as e: print(f'FAILED {arch} in {time.time() - t:.1f}s: {e}')
'''

def test_offline_with_nothing_cached_fails_fast_with_what_to_do(tmp_path):
    r, _ = _run(FAIL, _env(tmp_path))
    lines = [l for l in r.stdout.splitlines() if l.startswith('FAILED')]
    assert len(lines) == 2, r.stdout + r.stderr[-2000:]
    for l in lines: assert float(l.split(' in ')[1].split('s:')[0]) < 5 and '--weights FILE' in l
    assert 'models--timm--resnet18.a1_in1k' in lines[0] and str(tmp_path / 'hf' / 'hub') in lines[0]
    assert 'resnet18-f37072fd.pth' in lines[1] and str(tmp_path / 'th' / 'hub' / 'checkpoints') in lines[1]

def test_hf_hub_offline_is_honoured_and_never_set(tmp_path):
    r, _ = _run(FAIL.replace("for arch in ('resnet18', 'tv_resnet18')", "for arch in ('resnet18',)"),
                _env(tmp_path, HF_HUB_OFFLINE='1'))
    assert 'HF_HUB_OFFLINE is set' in r.stdout, r.stdout + r.stderr[-2000:]
    r, _ = _run('''
        import os, maskfast.learn.pretrained as p
        try: p.pretrained_state_dict('resnet18')
        except p.WeightsError: pass
        print('OFFLINE' if 'HF_HUB_OFFLINE' in os.environ else 'UNTOUCHED')''', _env(tmp_path))
    assert 'UNTOUCHED' in r.stdout, r.stdout + r.stderr[-2000:]

def test_cached_weights_load_without_network(tmp_path):
    r, secs = _run(f'''
        import os, torch, timm, torchvision
        from safetensors.torch import save_file
        sd = timm.create_model('resnet18').state_dict()
        d = r'{tmp_path}/hf/hub/models--timm--resnet18.a1_in1k'; h = 'b' * 40   # the hub cache layout
        os.makedirs(f'{{d}}/snapshots/{{h}}'); os.makedirs(f'{{d}}/refs'); open(f'{{d}}/refs/main', 'w').write(h)
        save_file(sd, f'{{d}}/snapshots/{{h}}/model.safetensors')
        tv = torchvision.models.resnet18().state_dict()
        os.makedirs(r'{tmp_path}/th/hub/checkpoints'); torch.save(tv, r'{tmp_path}/th/hub/checkpoints/resnet18-f37072fd.pth')
        from maskfast.learn.pretrained import pretrained_state_dict
        got = pretrained_state_dict('resnet18')
        print('TIMM', len(got) > 100 and all(torch.equal(got[k], sd[k]) for k in got))
        got = pretrained_state_dict('tv_resnet18')
        print('TV', all(torch.equal(got[k], tv[k]) for k in tv))
        from maskfast.learn.models import build_model, load_body_weights
        print('BODY', load_body_weights(build_model('resnet18'), pretrained_state_dict('resnet18'), 'resnet18'))''', _env(tmp_path))
    assert 'TIMM True' in r.stdout and 'TV True' in r.stdout and 'BODY 1' in r.stdout, r.stdout + r.stderr[-3000:]

def test_fit_pretrained_offline_says_what_to_do(twin, tmp_path):
    r = subprocess.run([sys.executable, '-m', 'maskfast.fit', '--data', str(twin), '--pretrained', '--size', '64', '32',
                        '--epochs', '1', '--lr', '1e-3', '--out', str(tmp_path / 'r'), '--quiet'],
                       capture_output=True, text=True, env=_env(tmp_path), timeout=300)
    assert r.returncode != 0 and '--weights FILE' in r.stderr and 'Traceback' not in r.stderr, r.stderr[-2000:]
