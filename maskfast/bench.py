"""`python -m maskfast.bench`: speed of maskfast end to end vs the model alone and vs a naive JPEG loader
(library: `maskfast.experiments.bench.run_bench`)."""
__all__ = ['main']

from typing import Annotated
import torch
from fastcore.script import call_parse
from .experiments.bench import run_bench, run_serve_bench, BENCH_ROWS

@call_parse
def main(
    data: str = None,          # competition root (default: the embedded synthetic twin)
    arch: str = 'resnet18',    # model
    size: Annotated[int, 'image size H W', {'nargs': 2}] = (128, 96),
    bs: int = 32,              # batch size
    steps: int = 25,           # timed training steps per measurement
    precision: str = 'auto',   # auto | fp32 | bf16 | fp16
    workers: int = 0,          # DataLoader worker processes for the maskfast loader
    stem: str = 'plain',       # plain | s2d | s2d-detail | s2d-fine (space-to-depth stems; --size is then the input they see, even sides)
    serve: str = None,         # instead: the prediction service's latency and throughput, serving this run folder
    tta: int = 0,              # with --serve: the service's test-time views (its default, 0 = off)
):
    "Print a speed table and, last, `ratio end_to_end/model_only=X.XX loader_speedup=Y.YY` (or the service's numbers)."
    if serve:
        from .data.layout import read_eval
        from .data.twin import default_twin
        s = run_serve_bench([serve], list(read_eval(data or default_twin())['file'][:64]), tta=tta)
        print(f'maskfast.serve {serve} (tta {tta}) on cpu x{torch.get_num_threads()} threads')
        print(f'single photo latency p50 {s["p50_ms"]:.1f} ms, p95 {s["p95_ms"]:.1f} ms; 4 concurrent clients '
              f'{s["concurrent4_img_s"]:.0f} img/s; batch endpoint {s["batch_img_s"]:.0f} img/s')
        return
    r = run_bench(data, arch, tuple(size), bs, steps, precision, workers, stem)
    dev = 'cuda' if torch.cuda.is_available() else f'cpu x{torch.get_num_threads()} threads'
    print(f'{arch}{" --stem " + stem if stem != "plain" else ""} {size[0]}x{size[1]} bs {bs} {r["precision"]} on {dev}')
    print(f'{"measurement":44s} img/s')
    for k, name in BENCH_ROWS:
        if k in r: print(f'{name:44s} {r[k]:8.1f}')
    print(f'ratio end_to_end/model_only={r["ratio"]:.2f} loader_speedup={r["loader_speedup"]:.2f}'
          + (f' s2d_192x128/plain={r["s2d_ratio"]:.2f} detail_192x128/plain={r["detail_ratio"]:.2f} fine_384x256/plain={r["fine_ratio"]:.2f}'
             f' fused_adam/fastai_adam={r["fused_ratio"]:.2f}' if 's2d_ratio' in r else ''))
