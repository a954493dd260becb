"""Model bodies (timm names and torchvision resnets), single / multi heads, backbone weights from a state dict."""
__all__ = ['HEAD_OUT', 'TASKS', 'BODY_STEMS', 'TV_ARCHS', 'WeightsError', 'check_arch', 'build_model', 'load_body_weights', 'to_probs18',
           'output_probs', 'task_target', 'body_module', 'head_outputs', 'SpaceToDepthBody', 'DetailMap', 'blur3', 'fine_detail', 'size_multiple', 'model_stem', 'set_input_stats']

import difflib
from pathlib import Path
import torch, torch.nn.functional as F
from .age_heads import AGE_OUT, age_group_probs
from .pretrained import WeightsError, TV_ARCHS
from .config import check_drop_path

HEAD_OUT = {'single': 18, 'multi': 8}       # multi: 3 mask + 2 gender + 3 age logits
TASKS = {'mask': 3, 'gender': 2, 'age': 3}   # a single-task model's outputs (--task)
BODY_STEMS = ('plain', 's2d', 's2d-detail', 's2d-fine', 's2d-fine-log')   # s2d: each 2x2 pixel block into channels before the body (TResNet's stem)
STEM_IN = {'plain': 3, 's2d': 12, 's2d-detail': 16, 's2d-fine': 20, 's2d-fine-log': 20}   # channels the body's first conv takes

class DetailMap(torch.nn.Module):
    """The grey detail of an image (itself minus its 3x3 Gaussian blur), batch-normalised: 1-px lines at full strength.
    The normalisation has no learnable scale or shift (the body's first conv learns them): a learnable one needs the
    gradient of that conv's input, a backward pass the other stems skip (~12% of a training step at 192x128).
    `log`: the detail of the log brightness (the input un-normalised with the `mean` / `std` buffers that
    `set_input_stats` fills), so a line's relative darkness reads the same on light and dark skin and in any exposure."""
    log = False   # the class default: a body pickled before the log detail existed has no such attribute
    def __init__(self, log=False):
        super().__init__(); self.bn, self.log = torch.nn.BatchNorm2d(1, affine=False), log
        if log:
            self.register_buffer('mean', torch.zeros(1, 3, 1, 1)); self.register_buffer('std', torch.ones(1, 3, 1, 1))
    def forward(self, x):
        if self.log: g = torch.log((x * self.std + self.mean).mean(1, keepdim=True).clamp_min(LOG_FLOOR))
        else: g = x.mean(1, keepdim=True)
        return self.bn(g - blur3(g))

LOG_FLOOR = 4 / 255   # the darkest grey the log detail tells apart (sensor noise below it would dominate the log)

def blur3(g):
    """The 3x3 Gaussian blur ([1 2 1] x [1 2 1] / 16, edges replicated) of (N, 1, H, W) `g`, as two passes of shifted
    sums: the same values as the 3x3 convolution at ~1/9 of its time on the CPU (a 1-channel conv is slow there)."""
    p = F.pad(g, (1, 1, 1, 1), mode='replicate')
    v = p[:, :, :-2] + 2 * p[:, :, 1:-1] + p[:, :, 2:]
    return (v[..., :-2] + 2 * v[..., 1:-1] + v[..., 2:]) / 16

def fine_detail(x, detail):
    """The s2d-fine input: an image at twice the side the s2d stem takes, as the mean colour of each 2x2 block plus the
    darkest and the brightest value of its detail map there (5 channels at half the side): a 1-px line keeps its full
    contrast wherever it falls, where averaging would halve it and mix its darkness with its width."""
    d = detail(x)
    return torch.cat([F.avg_pool2d(x, 2), -F.max_pool2d(-d, 2), F.max_pool2d(d, 2)], 1)

class SpaceToDepthBody(torch.nn.Module):
    """A body fed 2x2 pixel blocks as channels (12 in, 16 with the detail map): twice the side at about the plain cost.
    `fine`: the input is twice that side again and first reduced by `fine_detail` (20 channels in)."""
    fine = False   # the class default: a body pickled before s2d-fine existed (`learn.export()`) has no such attribute
    def __init__(self, body, detail=False, fine=False, log=False):
        super().__init__(); self.body, self.fine = body, fine
        self.detail = DetailMap(log) if detail or fine else None
    def forward(self, x):
        if self.fine: x = fine_detail(x, self.detail)
        elif self.detail is not None: x = torch.cat([x, self.detail(x)], 1)
        return self.body(F.pixel_unshuffle(x, 2))

def model_stem(model):
    "The stem a built model has: 's2d' / 's2d-detail' / 's2d-fine' when its body is fed space-to-depth blocks, else 'plain'."
    b = model[0]
    if not isinstance(b, SpaceToDepthBody): return 'plain'
    if b.fine: return 's2d-fine-log' if getattr(b.detail, 'log', False) else 's2d-fine'
    return 's2d' if b.detail is None else 's2d-detail'

def size_multiple(stem='plain'):
    "What input sides must divide by: the body's stride, times 2 under a space-to-depth stem, times 4 under s2d-fine."
    return 128 if stem.startswith('s2d-fine') else 64 if stem.startswith('s2d') else 32

def set_input_stats(model, mean, std):
    """Tell a log-detail stem (`--stem s2d-fine-log`) the input's normalisation (per-channel `mean` / `std` on the 0-1
    scale), which it undoes before the log; other models are left as they are. Returns whether the model took them."""
    d = getattr(model[0], 'detail', None)
    if not getattr(d, 'log', False): return False
    d.mean.copy_(torch.as_tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
    d.std.copy_(torch.as_tensor(std, dtype=torch.float32).view(1, 3, 1, 1))
    return True

def check_arch(arch):
    "Raise a ValueError listing close matches when `arch` is neither a timm name nor a torchvision resnet (`tv_resnet34`)."
    import timm
    if arch in TV_ARCHS or arch in timm.list_models(): return arch
    names = list(TV_ARCHS) + timm.list_models()
    close = difflib.get_close_matches(arch, names, n=6, cutoff=0.6)
    raise ValueError(f'unknown --arch {arch!r}; close matches: {close or "none"} '
                     f'(any timm name, or {", ".join(TV_ARCHS)} for torchvision)')

def body_module(model):
    "The backbone nn.Module whose state dict matches the architecture's plain weights."
    b = model[0]
    b = b.body if isinstance(b, SpaceToDepthBody) else b
    return b.model if hasattr(b, 'model') else b

def head_outputs(head='single', task='all', age_head='class'):
    "Outputs of a model: 18 (single head), 3 + 2 + the age head's (multi head), or one task's."
    if task == 'age': return AGE_OUT[age_head]
    if task != 'all': return TASKS[task]
    return 18 if head == 'single' else 5 + AGE_OUT[age_head]

def build_model(arch, head='single', task='all', age_head='class', stem='plain', drop_path=0.):
    """fastai body + head (no weights downloaded): `create_timm_model` for timm names, `create_vision_model` for tv_*.
    `task` 'all' predicts the 18 classes (`head` single or multi); 'mask', 'gender' or 'age' that task alone;
    `age_head` 'class', 'ordinal', 'regression', 'hybrid' or 'class-ordinal' (multi head or the age task); `stem` 's2d' turns each 2x2
    block of input pixels into channels before the body (whose first conv then takes 12 channels); 's2d-detail' adds the
    image's grey detail map (`DetailMap`) as a 4th channel before the blocks (16 channels); 's2d-fine' takes an input of
    twice that side and reduces it by `fine_detail` first (20 channels); 's2d-fine-log' the same from the detail of the
    log brightness (`DetailMap(log=True)`; `set_input_stats` gives it the input's normalisation). `drop_path` > 0: timm's
    stochastic depth (each residual branch dropped with a probability rising to `drop_path` in the last block; training
    only, so a run's weights load without it)."""
    from fastai.vision.learner import create_timm_model, create_vision_model
    if head not in HEAD_OUT: raise ValueError(f"head must be one of {list(HEAD_OUT)}, not {head!r}")
    if task != 'all' and task not in TASKS: raise ValueError(f"task must be 'all' or one of {list(TASKS)}, not {task!r}")
    check_arch(arch)
    if age_head not in AGE_OUT: raise ValueError(f"age head must be one of {list(AGE_OUT)}, not {age_head!r}")
    if stem not in BODY_STEMS: raise ValueError(f"stem must be one of {list(BODY_STEMS)}, not {stem!r}")
    n, n_in = head_outputs(head, task, age_head), STEM_IN[stem]
    check_drop_path(drop_path, arch)
    if arch in TV_ARCHS:
        import torchvision.models as tvm
        model = create_vision_model(getattr(tvm, arch[3:]), n, pretrained=False, n_in=n_in)
    else: model = create_timm_model(arch, n, pretrained=False, n_in=n_in, **({'drop_path_rate': drop_path} if drop_path else {}))[0]
    if stem != 'plain': model[0] = SpaceToDepthBody(model[0], detail=stem == 's2d-detail', fine=stem.startswith('s2d-fine'),
                                                    log=stem == 's2d-fine-log')
    return model

def _read_state_dict(path):
    path = Path(path)
    if not path.exists(): raise WeightsError(f'--weights {path} does not exist')
    if path.suffix == '.safetensors':
        from safetensors.torch import load_file
        sd = load_file(str(path))
    else: sd = torch.load(path, map_location='cpu', weights_only=True)
    for k in ('state_dict', 'model'):
        if isinstance(sd, dict) and k in sd and isinstance(sd[k], dict): sd = sd[k]
    return sd

def load_body_weights(model, weights, arch=''):
    "Load a local .pth/.safetensors state dict into the backbone; classifier keys are ignored. Returns #keys loaded."
    sd = _read_state_dict(weights) if isinstance(weights, (str, Path)) else weights
    body = body_module(model)
    own = body.state_dict()
    if arch in TV_ARCHS:   # fastai cut the torchvision net into a Sequential: map names by order of the kept children
        import torchvision.models as tvm
        names = [n for n, _ in getattr(tvm, arch[3:])().named_children()][:len(list(body.children()))]
        sd = {k.replace(n + '.', f'{i}.', 1): v for k, v in sd.items() for i, n in enumerate(names) if k.startswith(n + '.')}
    use = {k: v for k, v in sd.items() if k in own and own[k].shape == v.shape}
    if len(use) < 0.5 * len(own):
        raise WeightsError(f'{weights}: only {len(use)} of {len(own)} backbone tensors match {arch or "the model"}; '
                           'is it a state dict for this --arch?')
    body.load_state_dict(use, strict=False)
    return len(use)

def to_probs18(logits):
    "18-class probabilities from single-head (18) or multi-head (3+2+3) logits: p(m, g, a) = p(m) p(g) p(a)."
    logits = logits.float()
    if logits.shape[-1] == 18: return F.softmax(logits, -1)
    if logits.shape[-1] != 8: raise ValueError(f'expected 18 or 8 logits, got {logits.shape[-1]}')
    pm, pg, pa = F.softmax(logits[:, :3], -1), F.softmax(logits[:, 3:5], -1), F.softmax(logits[:, 5:], -1)
    return (pm[:, :, None, None] * pg[:, None, :, None] * pa[:, None, None, :]).reshape(len(logits), 18)

def output_probs(logits, task='all', age_head='class', old_from=60):
    "Probabilities of a model's outputs: the 18 classes for `task` 'all', else the task's own classes."
    logits = logits.float()
    if task == 'age': return age_group_probs(logits, age_head, old_from)
    if task != 'all': return F.softmax(logits, -1)
    if logits.shape[-1] == 18: return F.softmax(logits, -1)
    pm, pg, pa = F.softmax(logits[:, :3], -1), F.softmax(logits[:, 3:5], -1), age_group_probs(logits[:, 5:], age_head, old_from)
    return (pm[:, :, None, None] * pg[:, None, :, None] * pa[:, None, None, :]).reshape(len(logits), 18)

def task_target(y, task):
    "A task's label (mask 0-2, gender 0-1, age 0-2) from 18-class labels (tensors or arrays)."
    return {'mask': y // 6, 'gender': (y // 3) % 2, 'age': y % 3}[task]
