"""`python -m maskfast.serve RUN [RUN ...] [--port P] [--host 127.0.0.1]`: the prediction service and an upload page
(library: `maskfast.infer.service`, app: `maskfast.web.serve`)."""
__all__ = ['main']

from typing import Annotated
from fastcore.script import call_parse

@call_parse
def main(
    runs: Annotated[str, 'run folders or k-fold parents, soft-voted (default: the newest under runs/)', {'nargs': '*', 'opt': False}] = None,
    host: str = '127.0.0.1',   # address to bind (127.0.0.1: this machine only; 0.0.0.0 for others to reach it)
    port: int = 8000,          # port
    tta: int = 0,              # extra test-time views as predict's --tta (0: off; flip TTA measured no gain, 2x the cost)
    max_mb: float = 10,        # largest upload accepted, in MB
    precision: str = 'auto',   # inference precision as predict's: auto (bf16 on a CPU with native bf16, fp16 on CUDA) | fp32 | bf16 | fp16
):
    "Serve POST /predict, POST /predict/batch, GET / (upload page) and GET /health."
    try: import uvicorn
    except ImportError: raise SystemExit("maskfast.serve: needs the 'web' extra: pip install -e '.[web]'") from None
    from .infer.submission import latest_run
    from .web.serve import serve_app
    try: app = serve_app(runs or [latest_run()], tta=tta, max_bytes=int(max_mb * 2**20), precision=precision)
    except (ValueError, FileNotFoundError) as e: raise SystemExit(f'maskfast.serve: {e}') from None
    print(f'serving {", ".join(map(str, app.state.predictor.runs))} on http://{host}:{port}/', flush=True)
    uvicorn.run(app, host=host, port=port, log_level='warning')
