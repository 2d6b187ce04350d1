// Loss curves on a <canvas>: content, style and total against the step, each relative to its
// own first value, on one log axis (drawn here, no library, so the page works offline).
//
// Why relative: the terms differ by orders of magnitude (a content loss of 1e5 beside a total
// of 3 once the weights are applied), so on a shared absolute axis a term that halves moves by
// a hair and reads as "never improves". Divided by its first value each curve starts at ×1 and
// shows its own progress (×0.5: halved, ×0.01: a hundredth of its start); the legend gives the
// latest absolute value of each. A term that starts at 0 (the content loss of a run that starts
// from the photo) is measured from its first value above 0.
"use strict";

const LOSS_CURVES = [
  { name: "content", color: "#3b82f6" },
  { name: "style", color: "#e4572e" },
  { name: "total", color: "#1f2937" },
];

function usable(value) {
  return typeof value === "number" && value > 0 && Number.isFinite(value);
}

function formatRatio(exponent) {
  const value = Math.pow(10, exponent);
  if (exponent >= -3 && exponent <= 3) return "×" + String(+value.toPrecision(1));
  return "×1e" + exponent;
}

function shortLoss(value) {
  return usable(value) ? value.toPrecision(2).replace("e+", "e") : "–";
}

// The first usable value of each curve: what its ratios are measured from.
function startsOf(rows) {
  const starts = {};
  for (const curve of LOSS_CURVES) {
    const first = rows.find((row) => usable(row[curve.name]));
    if (first) starts[curve.name] = first[curve.name];
  }
  return starts;
}

function fitCanvas(canvas) {
  const ratio = window.devicePixelRatio || 1;
  const cssWidth = canvas.clientWidth || canvas.width;
  const cssHeight = canvas.clientHeight || canvas.height;
  if (canvas.width !== Math.round(cssWidth * ratio) || canvas.height !== Math.round(cssHeight * ratio)) {
    canvas.width = Math.round(cssWidth * ratio);
    canvas.height = Math.round(cssHeight * ratio);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, cssWidth, cssHeight);
  ctx.font = "12px system-ui, sans-serif";
  return { ctx, width: cssWidth, height: cssHeight };
}

// The legend, wrapped onto as many lines as the width needs; its boxes (for the page's tests).
function drawLegend(ctx, rows, width, boxes) {
  const last = rows[rows.length - 1] || {};
  let lx = 8;
  let ly = 10;
  ctx.textAlign = "left";
  ctx.textBaseline = "middle";
  for (const curve of LOSS_CURVES) {
    const text = `${curve.name} ${shortLoss(last[curve.name])}`;
    const itemWidth = 18 + ctx.measureText(text).width;
    if (lx > 8 && lx + itemWidth > width - 8) { lx = 8; ly += 18; }
    ctx.fillStyle = curve.color;
    ctx.fillRect(lx, ly - 2, 14, 4);
    ctx.fillStyle = "#374151";
    ctx.fillText(text, lx + 18, ly);
    boxes.push({ what: "legend " + curve.name, left: lx, right: lx + itemWidth, top: ly - 7, bottom: ly + 7 });
    lx += itemWidth + 16;
  }
  return ly + 14; // where the plot may start
}

function drawAxes(ctx, box, low, high, lastStep, boxes) {
  ctx.strokeStyle = "#e5e7eb";
  ctx.lineWidth = 1;
  ctx.fillStyle = "#6b7280";
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  const y = (e) => box.bottom - (box.bottom - box.top) * ((e - low) / (high - low));
  // one line per decade; fewer labels where the plot is short, so that they never touch
  const every = Math.max(1, Math.ceil((high - low) / Math.max(1, Math.floor((box.bottom - box.top) / 22))));
  for (let e = high; e >= low; e -= every) {
    const py = y(e);
    ctx.beginPath();
    ctx.moveTo(box.left, py);
    ctx.lineTo(box.right, py);
    ctx.stroke();
    ctx.fillText(formatRatio(e), box.left - 6, py);
    const labelWidth = ctx.measureText(formatRatio(e)).width;
    boxes.push({ what: "y " + e, left: box.left - 6 - labelWidth, right: box.left - 6, top: py - 7, bottom: py + 7 });
  }
  ctx.textBaseline = "top";
  const ticks = [
    { text: "0", x: box.left, align: "left" },
    { text: String(lastStep), x: box.right, align: "right" },
  ];
  for (const tick of ticks) {
    ctx.textAlign = tick.align;
    ctx.fillText(tick.text, tick.x, box.bottom + 4);
    const w = ctx.measureText(tick.text).width;
    const left = tick.align === "left" ? tick.x : tick.x - w;
    boxes.push({ what: "x " + tick.text, left, right: left + w, top: box.bottom + 4, bottom: box.bottom + 18 });
  }
  const title = "step · each loss relative to its start (log)";
  ctx.textAlign = "center";
  ctx.fillText(title, (box.left + box.right) / 2, box.bottom + 20);
  const w = ctx.measureText(title).width;
  const middle = (box.left + box.right) / 2;
  boxes.push({ what: "x title", left: middle - w / 2, right: middle + w / 2, top: box.bottom + 20, bottom: box.bottom + 34 });
}

// rows: [{step, content, style, total}], marker: a step to mark (the shown iterate) or null.
function drawLosses(canvas, rows, marker) {
  const { ctx, width, height } = fitCanvas(canvas);
  const boxes = [];
  const starts = startsOf(rows);
  const ratios = [];
  for (const row of rows) {
    for (const curve of LOSS_CURVES) {
      if (usable(row[curve.name]) && starts[curve.name]) ratios.push(row[curve.name] / starts[curve.name]);
    }
  }
  const top = drawLegend(ctx, rows, width, boxes);
  const box = { left: 48, right: width - 10, top: top + 6, bottom: height - 38 };
  canvas.dataset.layout = JSON.stringify({ width, height, boxes });
  if (!ratios.length) {
    ctx.fillStyle = "#6b7280";
    ctx.textAlign = "left";
    ctx.fillText("the losses appear here as the run goes", box.left, (box.top + box.bottom) / 2);
    return;
  }
  let low = Math.floor(Math.log10(Math.min(...ratios)));
  let high = Math.ceil(Math.log10(Math.max(...ratios)));
  if (high - low < 1) { low -= 1; high = Math.max(high, low + 1); }
  const lastStep = Math.max(1, ...rows.map((row) => row.step));
  const x = (step) => box.left + (box.right - box.left) * (step / lastStep);
  const y = (ratio) => box.bottom - (box.bottom - box.top) * ((Math.log10(ratio) - low) / (high - low));
  drawAxes(ctx, box, low, high, lastStep, boxes);
  if (marker !== null && marker !== undefined) {
    ctx.strokeStyle = "#9ca3af";
    ctx.setLineDash([4, 4]);
    ctx.beginPath();
    ctx.moveTo(x(marker), box.top);
    ctx.lineTo(x(marker), box.bottom);
    ctx.stroke();
    ctx.setLineDash([]);
  }
  const ends = {};
  for (const curve of LOSS_CURVES) {
    const start = starts[curve.name];
    if (!start) continue;
    ctx.strokeStyle = curve.color;
    ctx.lineWidth = 2;
    ctx.beginPath();
    let drawing = false;
    for (const row of rows) {
      const v = row[curve.name];
      if (!usable(v)) { drawing = false; continue; } // a log axis cannot show 0
      const point = [x(row.step), y(v / start)];
      if (drawing) ctx.lineTo(...point);
      else ctx.moveTo(...point);
      drawing = true;
      ends[curve.name] = ends[curve.name] || { first: point[1] };
      ends[curve.name].last = point[1];
    }
    ctx.stroke();
  }
  canvas.dataset.layout = JSON.stringify({ width, height, boxes, ends });
}
