"""The stroke pad: a canvas in gr.HTML that sends its strokes as JSON points, about every 60 ms
while the pen moves ('stroke') and once more at pen-up ('penup'), with Undo, Clear and Replay.

Its value is strokes.Pad's JSON: {"size": [w, h], "strokes": [[[x, y], ...], ...]}."""
import gradio as gr

from ..strokes import BRUSH, CANVAS

SEND_EVERY_MS = 60
GAP = 2  # canvas pixels between kept points: a slow pen at 240 Hz sends many less than a pixel apart

HTML = f"""<div class="pad-frame">
<canvas width="{CANVAS}" height="{CANVAS}" aria-label="Draw a digit here"></canvas>
<div class="pad-tools">
<button type="button" data-do="undo" title="Undo the last stroke (Ctrl-Z)">Undo</button>
<button type="button" data-do="clear">Clear</button>
<button type="button" data-do="replay" title="Redraw the last drawing stroke by stroke">Replay</button>
</div></div>"""

CSS = """.pad-frame { max-width: 420px; margin: 0 auto; }
canvas { display: block; width: 100%; aspect-ratio: 1; touch-action: none; cursor: crosshair;
  background: #fff; border: 1px solid var(--border-color-primary); border-radius: 6px; }
.pad-tools { display: flex; gap: 6px; margin-top: 6px; }
.pad-tools button { flex: 1; padding: 4px; border-radius: 6px; cursor: pointer;
  border: 1px solid var(--border-color-primary); background: var(--button-secondary-background-fill); }"""

# The canvas keeps its own strokes; props.value is what each event sends. Two events, not
# 'change', so that a class's pen-up readings never queue behind everyone's live ones.
JS = """
const canvas = element.querySelector('canvas');
const ctx = canvas.getContext('2d');
const SIZE = canvas.width, BRUSH = %(brush)s, EVERY = %(every)s, GAP = %(gap)s;
let strokes = [], pen = null, sent = 0, shown = [], replaying = false;

function paint() {
  ctx.fillStyle = '#fff'; ctx.fillRect(0, 0, SIZE, SIZE);
  ctx.strokeStyle = ctx.fillStyle = '#000';
  ctx.lineWidth = BRUSH; ctx.lineCap = ctx.lineJoin = 'round';
  for (const s of strokes) {
    ctx.beginPath(); ctx.moveTo(s[0][0], s[0][1]);
    for (const [x, y] of s) ctx.lineTo(x, y);
    if (s.length === 1) ctx.lineTo(s[0][0] + 0.01, s[0][1]);
    ctx.stroke();
  }
}
function send(done) {
  props.value = JSON.stringify({size: [SIZE, SIZE], strokes: strokes});
  sent = performance.now();
  if (done && strokes.length) shown = strokes.map(s => s.slice());
  trigger(done ? 'penup' : 'stroke');
}
function at(e) {
  const r = canvas.getBoundingClientRect();
  const round = v => Math.round(v * 10) / 10;
  return [round((e.clientX - r.left) * SIZE / r.width), round((e.clientY - r.top) * SIZE / r.height)];
}
canvas.addEventListener('pointerdown', e => {
  if (e.button > 0 || replaying) return;
  e.preventDefault();
  canvas.setPointerCapture(e.pointerId);
  pen = [at(e)]; strokes.push(pen); paint(); sent = performance.now();
});
canvas.addEventListener('pointermove', e => {
  if (!pen) return;
  const keep = p => { const q = pen[pen.length - 1]; if (Math.hypot(p[0] - q[0], p[1] - q[1]) >= GAP) pen.push(p); };
  for (const ev of (e.getCoalescedEvents ? e.getCoalescedEvents() : [])) keep(at(ev));
  if (!e.getCoalescedEvents || !e.getCoalescedEvents().length) keep(at(e));
  paint();
  if (performance.now() - sent >= EVERY) send(false);
});
function lift() { if (pen) { pen = null; send(true); } }
canvas.addEventListener('pointerup', lift);
canvas.addEventListener('pointercancel', lift);
function undo() { if (!replaying && strokes.length) { strokes.pop(); paint(); send(true); } }
function clear() { if (!replaying) { strokes = []; paint(); send(true); } }
async function replay() {
  const drawing = strokes.length ? strokes.map(s => s.slice()) : shown;
  if (replaying || !drawing.length) return;
  replaying = true; strokes = []; paint(); send(false);
  for (const s of drawing) {
    const stroke = []; strokes.push(stroke);
    for (let i = 0; i < s.length; i += 2) {
      stroke.push(...s.slice(i, i + 2)); paint();
      await new Promise(r => requestAnimationFrame(r));
    }
    send(true);
    await new Promise(r => setTimeout(r, 600));  // time to look at each stroke's reading
  }
  replaying = false;
}
element.querySelector('[data-do=undo]').addEventListener('click', undo);
element.querySelector('[data-do=clear]').addEventListener('click', clear);
element.querySelector('[data-do=replay]').addEventListener('click', replay);
document.addEventListener('keydown', e => {
  const typing = e.target.closest && e.target.closest('input, textarea, [contenteditable]');
  if ((e.ctrlKey || e.metaKey) && e.key === 'z' && !typing && element.offsetParent) {
    e.preventDefault(); undo();
  }
});
paint();
canvas.dataset.ready = 'true';  // listeners attached: tests and tools wait for this
""" % {"brush": BRUSH * CANVAS, "every": SEND_EVERY_MS, "gap": GAP}


def stroke_pad() -> gr.HTML:
    """The pad (also what bench.py's empty-handler page draws on); events 'stroke' and 'penup'."""
    return gr.HTML(None, html_template=HTML, css_template=CSS, js_on_load=JS, elem_id="pad",
                   apply_default_css=False)
