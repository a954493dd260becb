// keyboard shortcuts for the review page: each key presses the button that carries it in data-key
document.addEventListener('keydown', (e) => {
  if (e.target.tagName === 'INPUT' || e.ctrlKey || e.metaKey || e.altKey) return;
  const b = document.querySelector(`button[data-key="${e.key}"]`);
  if (b) { e.preventDefault(); b.click(); }
});
