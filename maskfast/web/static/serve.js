// the upload page: send the photo to /predict, show it with the face box (orange) and crop (green), and the answer
const form = document.getElementById('upload'), out = document.getElementById('answer');
const img = document.getElementById('photo'), canvas = document.getElementById('boxes');
function draw(box, color, w, h) {
  if (!box) return;
  const ctx = canvas.getContext('2d'), sx = img.width / w, sy = img.height / h;
  ctx.strokeStyle = color; ctx.lineWidth = 3;
  ctx.strokeRect(box[0] * sx, box[1] * sy, (box[2] - box[0]) * sx, (box[3] - box[1]) * sy);
}
form.addEventListener('submit', async (e) => {
  e.preventDefault();
  const file = document.getElementById('file').files[0];
  if (!file) { out.innerHTML = '<span class="error">choose a photo first</span>'; return; }
  out.textContent = 'predicting ...';
  img.src = URL.createObjectURL(file);
  await img.decode().catch(() => {});
  const body = new FormData(); body.append('file', file);
  const r = await fetch('predict', { method: 'POST', body });
  const j = await r.json();
  canvas.width = img.width; canvas.height = img.height;
  canvas.getContext('2d').clearRect(0, 0, canvas.width, canvas.height);
  if (!r.ok) { out.innerHTML = `<span class="error">${j.error}</span>`; return; }
  out.innerHTML = `<b id="words">${j.mask} / ${j.gender} / ${j.age}</b> &nbsp; class ${j.class}, probability ${Math.max(...j.probs).toFixed(3)}`;
  draw(j.face_box, 'orange', j.width, j.height); draw(j.crop_box, 'limegreen', j.width, j.height);
});
