// Loss curves on a <canvas>: content, style and total against the step, log scale (drawn
// here, no library, so the page works offline).
"use strict";

const LOSS_CURVES = [
  { name: "content", color: "#3b82f6" },
  { name: "style", color: "#e4572e" },
  { name: "total", color: "#1f2937" },
];

function niceLog(value) {
  const exponent = Math.floor(Math.log10(value));
  return Number.isFinite(exponent) ? exponent : 0;
}

function formatPower(exponent) {
  const value = Math.pow(10, exponent);
  return exponent >= -2 && exponent <= 4 ? String(+value.toPrecision(1)) : "1e" + exponent;
}

// rows: [{step, content, style, total}], marker: a step to mark (the shown iterate) or null.
function drawLosses(canvas, rows, marker) {
  const ratio = window.devicePixelRatio || 1;
  const cssWidth = canvas.clientWidth || canvas.width;
  const cssHeight = canvas.clientHeight || canvas.height;
  if (canvas.width !== Math.round(cssWidth * ratio)) {
    canvas.width = Math.round(cssWidth * ratio);
    canvas.height = Math.round(cssHeight * ratio);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, cssWidth, cssHeight);
  const box = { left: 52, right: cssWidth - 12, top: 26, bottom: cssHeight - 30 };
  const values = [];
  for (const row of rows) {
    for (const curve of LOSS_CURVES) {
      const v = row[curve.name];
      if (typeof v === "number" && v > 0 && Number.isFinite(v)) values.push(v);
    }
  }
  ctx.font = "12px system-ui, sans-serif";
  ctx.fillStyle = "#6b7280";
  if (!values.length) {
    ctx.fillText("the losses appear here as the run goes", box.left, (box.top + box.bottom) / 2);
    return;
  }
  let low = niceLog(Math.min(...values));
  let high = niceLog(Math.max(...values)) + 1;
  if (high - low < 1) high = low + 1;
  const lastStep = Math.max(1, ...rows.map((row) => row.step));
  const x = (step) => box.left + (box.right - box.left) * (step / lastStep);
  const y = (v) => box.bottom - (box.bottom - box.top) * ((Math.log10(v) - low) / (high - low));

  // Grid: one line per decade, labelled.
  ctx.strokeStyle = "#e5e7eb";
  ctx.lineWidth = 1;
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  const every = Math.max(1, Math.ceil((high - low) / 6));
  for (let e = low; e <= high; e += every) {
    const py = y(Math.pow(10, e));
    ctx.beginPath();
    ctx.moveTo(box.left, py);
    ctx.lineTo(box.right, py);
    ctx.stroke();
    ctx.fillText(formatPower(e), box.left - 6, py);
  }
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  ctx.fillText("0", box.left, box.bottom + 6);
  ctx.fillText(String(lastStep), box.right - 8, box.bottom + 6);
  ctx.fillText("step (log-scale losses)", (box.left + box.right) / 2, box.bottom + 6);

  if (marker !== null && marker !== undefined) {
    ctx.strokeStyle = "#9ca3af";
    ctx.setLineDash([4, 4]);
    ctx.beginPath();
    ctx.moveTo(x(marker), box.top);
    ctx.lineTo(x(marker), box.bottom);
    ctx.stroke();
    ctx.setLineDash([]);
  }

  for (const curve of LOSS_CURVES) {
    ctx.strokeStyle = curve.color;
    ctx.lineWidth = 2;
    ctx.beginPath();
    let drawing = false;
    for (const row of rows) {
      const v = row[curve.name];
      if (!(typeof v === "number" && v > 0 && Number.isFinite(v))) {
        drawing = false; // log scale cannot show 0 (content starts at 0 from a content copy)
        continue;
      }
      if (drawing) ctx.lineTo(x(row.step), y(v));
      else ctx.moveTo(x(row.step), y(v));
      drawing = true;
    }
    ctx.stroke();
  }
  // Legend, top left.
  ctx.textAlign = "left";
  ctx.textBaseline = "middle";
  let lx = box.left;
  for (const curve of LOSS_CURVES) {
    ctx.fillStyle = curve.color;
    ctx.fillRect(lx, 8, 14, 4);
    ctx.fillStyle = "#374151";
    ctx.fillText(curve.name, lx + 18, 10);
    lx += ctx.measureText(curve.name).width + 36;
  }
}
