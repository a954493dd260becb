"""Pretrained ImageNet weights the normal way: timm's (Hugging Face hub) or torchvision's (torch hub) download on first
use, their caches afterwards. Offline with nothing cached it fails within seconds, naming the file to put where or
`--weights FILE`. maskfast never switches offline mode on for the process; it honours HF_HUB_OFFLINE when you set it."""
__all__ = ['WeightsError', 'pretrained_source', 'pretrained_state_dict']

import os, socket
from contextlib import contextmanager
from pathlib import Path
import torch

TV_ARCHS = ('tv_resnet18', 'tv_resnet34', 'tv_resnet50', 'tv_resnet101')
TIMEOUT_S = 10   # per network request: offline, a request fails at once (no route) or after this

class WeightsError(RuntimeError):
    "Pretrained weights could not be had; the message says which file to put where, or to pass --weights FILE."

def _offline(): return os.environ.get('HF_HUB_OFFLINE', '').lower() in ('1', 'true', 'yes', 'on')

def pretrained_source(arch):
    "(what to fetch, the cache folder it lands in) for `arch`: a Hugging Face repo id or a torchvision URL."
    if arch in TV_ARCHS:
        import torchvision.models as tvm
        w = tvm.get_model_weights(arch[3:]).DEFAULT
        return w.url, Path(torch.hub.get_dir()) / 'checkpoints' / os.path.basename(w.url)
    from timm.models import get_pretrained_cfg
    from huggingface_hub.constants import HF_HUB_CACHE
    cfg = get_pretrained_cfg(arch)
    if cfg is None or not cfg.hf_hub_id:
        raise WeightsError(f'timm has no pretrained weights for {arch!r} on the Hugging Face hub; pass --weights FILE')
    return cfg.hf_hub_id, Path(HF_HUB_CACHE) / ('models--' + cfg.hf_hub_id.replace('/', '--'))

@contextmanager
def _socket_timeout(s):
    "A default socket timeout while downloading (urllib has none: a black-holed network would hang)."
    old = socket.getdefaulttimeout(); socket.setdefaulttimeout(s)
    try: yield
    finally: socket.setdefaulttimeout(old)

def _fail(arch, src, where, why):
    hint = (f'put {where.name} in {where.parent}' if src.startswith('http') else
            f'copy the folder {where.name} (from ~/.cache/huggingface/hub of a machine that downloaded it) into {where.parent}')
    return WeightsError(f'no pretrained weights for {arch}: {why}. Online, the first use downloads {src} into that cache; '
                        f'offline, {hint}, or pass --weights FILE (a .pth/.safetensors state dict)')

def pretrained_state_dict(arch):
    "The backbone state dict of `arch`'s ImageNet weights: from the cache, else downloaded into it."
    src, where = pretrained_source(arch)
    if arch in TV_ARCHS:
        if not where.exists() and _offline(): raise _fail(arch, src, where, 'HF_HUB_OFFLINE is set and nothing is cached')
        try:
            with _socket_timeout(TIMEOUT_S): return torch.hub.load_state_dict_from_url(src, map_location='cpu', weights_only=True)
        except OSError as e: raise _fail(arch, src, where, f'the download failed ({type(e).__name__}: {e})') from None
    import timm
    from huggingface_hub import try_to_load_from_cache
    from timm.models import get_pretrained_cfg
    names = [n for n in ('model.safetensors', 'open_clip_model.safetensors', get_pretrained_cfg(arch).hf_hub_filename,
                         'pytorch_model.bin') if n]
    local = next((f for n in names if isinstance(f := try_to_load_from_cache(src, n), str)), None)
    if local:   # cached: timm's local-file route, no network at all (the hub would retry for ~50 s offline)
        return timm.create_model(arch, pretrained=True, num_classes=0, pretrained_cfg_overlay={'file': local}).state_dict()
    if _offline(): raise _fail(arch, src, where, 'HF_HUB_OFFLINE is set and nothing is cached')
    reachable, why = _reachable()
    if not reachable: raise _fail(arch, src, where, f'not cached and the hub is out of reach ({why})')
    try:
        with _socket_timeout(TIMEOUT_S): return timm.create_model(arch, pretrained=True, num_classes=0).state_dict()
    except Exception as e:   # hub errors differ across huggingface_hub versions: all mean "not here, not fetched"
        raise _fail(arch, src, where, f'not cached and the download failed ({type(e).__name__}: {e})') from None

def _reachable():
    "(True, '') when one request to the Hugging Face endpoint gets any answer within the timeout, else (False, why)."
    import urllib.error, urllib.request
    from huggingface_hub.constants import ENDPOINT
    try: urllib.request.urlopen(ENDPOINT, timeout=TIMEOUT_S).close(); return True, ''
    except urllib.error.HTTPError: return True, ''    # it answered
    except (OSError, ValueError) as e: return False, f'{type(e).__name__}: {getattr(e, "reason", e)}'
