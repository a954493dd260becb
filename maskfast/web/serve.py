"""The prediction service: POST /predict (multipart field `file`) and POST /predict/batch (fields `files`) answer JSON
{class, mask, gender, age, probs, face_box, crop_box}; GET / is an upload page that shows the photo, the face box
when the run crops faces, and the answer; GET /health. Bad input gets a 4xx JSON message and the server keeps serving."""
__all__ = ['MAX_BYTES', 'serve_app']

from pathlib import Path
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from ..infer.service import Predictor, decode_photo, ImageError

MAX_BYTES = 10 * 2**20
STATIC = Path(__file__).parent / 'static'

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>maskfast: try a photo</title>
<link rel="stylesheet" href="static/style.css"></head><body>
<h1>maskfast: try a photo</h1><p class="muted">{runs}</p>
<form id="upload"><input type="file" id="file" name="file" accept="image/*"> <button type="submit" id="send">Predict</button></form>
<div id="answer"></div><div id="view"><img id="photo" alt=""><canvas id="boxes"></canvas></div>
<p class="muted">orange: the face found; green: what the model sees. POST /predict with a multipart field "file" for JSON.</p>
<script src="static/serve.js"></script></body></html>"""

async def _read_uploads(request, field, max_bytes):
    "The bytes of the form's `field` files, or a JSONResponse saying what is wrong with the request."
    length = int(request.headers.get('content-length') or 0)
    if length > max_bytes * 16 + 2**20: return JSONResponse({'error': f'request of {length} bytes is over the limit'}, 413)
    ctype = request.headers.get('content-type', '')
    if not ctype.startswith('multipart/form-data'):
        return JSONResponse({'error': f'send a multipart/form-data body with the photo as the field "{field}" (got {ctype or "no content type"})'}, 415 if ctype else 400)
    try: form = await request.form()
    except Exception as e: return JSONResponse({'error': f'unreadable multipart body ({e})'}, 400)
    files = [f for f in form.getlist(field) if hasattr(f, 'read')]
    if not files: return JSONResponse({'error': f'no file in the field "{field}"; fields sent: {sorted(form.keys())}'}, 422)
    out = []
    for f in files:
        data = await f.read(max_bytes + 1)
        if len(data) > max_bytes: return JSONResponse({'error': f'{f.filename}: over the {max_bytes // 2**20} MB limit'}, 413)
        out.append((f.filename, data))
    return out

def serve_app(runs, tta=0, max_bytes=MAX_BYTES, device=None, precision='auto'):
    "The FastAPI app serving `runs` (loaded once, soft-voted like predict; `precision` as predict's)."
    pred = Predictor(runs, tta=tta, device=device, precision=precision)
    app = FastAPI(title='maskfast', docs_url=None, redoc_url=None)
    app.mount('/static', StaticFiles(directory=STATIC), name='static')
    app.state.predictor = pred
    names = ', '.join(str(r) for r in pred.runs)

    @app.get('/', response_class=HTMLResponse)
    def page(): return PAGE.format(runs=f'runs: {names}')

    @app.get('/health')
    def health(): return {'status': 'ok', 'runs': [str(r) for r in pred.runs], 'face_crops': pred.faces}

    @app.post('/predict')
    async def predict(request: Request):
        up = await _read_uploads(request, 'file', max_bytes)
        if isinstance(up, JSONResponse): return up
        if len(up) > 1: return JSONResponse({'error': 'one photo per request here; POST several to /predict/batch as "files"'}, 400)
        try: photo = decode_photo(up[0][1])
        except ImageError as e: return JSONResponse({'error': f'{up[0][0]}: {e}'}, 400)
        return (await run_in_threadpool(pred.predict, [photo]))[0]   # the event loop stays free (health, uploads)

    @app.post('/predict/batch')
    async def predict_batch(request: Request):
        up = await _read_uploads(request, 'files', max_bytes)
        if isinstance(up, JSONResponse): return up
        imgs, out = [], []
        for name, data in up:
            try: imgs.append((name, decode_photo(data)))
            except ImageError as e: out.append({'file': name, 'error': str(e)})
        res = await run_in_threadpool(pred.predict, [a for _, a in imgs]) if imgs else []
        return {'results': [{'file': n, **r} for (n, _), r in zip(imgs, res)] + out}

    return app
