// seqgen studio: fill the form from /api/catalogue, POST /api/generate, draw the notes, play the WAV.
"use strict";

const $ = (id) => document.getElementById(id);
const NAMES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"];
const BLACK = new Set([1, 3, 6, 8, 10]);
let catalogue = null;

function say(text, error = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", error);
}

function describe(model) {
  const score = model.test_log_likelihood === undefined ? "" :
    `, test ${model.test_log_likelihood.toFixed(3)} nats/frame (${model.estimator})`;
  return `${model.kind} trained on ${model.title || model.dataset}${score}`;
}

async function load() {
  const reply = await fetch("/api/catalogue");
  catalogue = await reply.json();
  for (const model of catalogue.models) $("model").add(new Option(model.name, model.name));
  for (const primer of catalogue.primers) $("primer").add(new Option(primer.label, primer.name));
  $("primer").add(new Option("upload a MIDI file…", "upload"));
  showModel();
}

function showModel() {
  const model = catalogue.models.find((m) => m.name === $("model").value);
  $("model-info").textContent = model ? describe(model) : "";
}

function readUpload(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result.slice(reader.result.indexOf(",") + 1));
    reader.onerror = () => reject(new Error(`${file.name}: cannot be read`));
    reader.readAsDataURL(file);
  });
}

async function request() {
  const body = {
    model: $("model").value,
    temperature: Number($("temperature").value),
    seconds: Number($("seconds").value),
    seed: $("seed").value === "" ? null : Number($("seed").value),
  };
  if ($("primer").value === "upload") {
    const file = $("upload").files[0];
    if (!file) throw new Error("choose a MIDI file to upload, or another primer");
    body.upload = await readUpload(file);
    body.upload_name = file.name;
  } else {
    body.primer = $("primer").value || null;
  }
  return body;
}

async function generate(event) {
  event.preventDefault();
  $("generate").disabled = true;
  say("Generating…");
  try {
    const reply = await fetch("/api/generate", {
      method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(await request()),
    });
    const song = await reply.json();
    if (!reply.ok) throw new Error(song.error);
    draw(song);
    $("player").src = song.wav;
    $("download").href = song.midi;
    $("download").setAttribute("download", `seqgen-${song.model}-${song.seed}.mid`);
    $("renderer").textContent = `audio: ${song.renderer}`;
    $("listen").hidden = false;
    const seconds = (song.frames * song.frame_seconds).toFixed(1);
    say(`${song.model}: ${song.frames} frames (${song.primer_frames} from the primer), about ${seconds} s at ` +
        `${song.tempo_bpm.toFixed(0)} BPM, ${song.notes.length} notes, seed ${song.seed}.`);
  } catch (error) {
    say(error.message, true);
  } finally {
    $("generate").disabled = false;
  }
}

function draw(song) {
  const canvas = $("roll"), ctx = canvas.getContext("2d");
  const pitches = song.notes.map((n) => n[0]);
  const lo = pitches.length ? Math.floor(Math.min(...pitches) / 12) * 12 : 48;
  const hi = pitches.length ? Math.floor(Math.max(...pitches) / 12) * 12 + 11 : 83;
  const left = 36, bottom = 18, width = canvas.width - left - 4, height = canvas.height - bottom - 4;
  const dx = width / Math.max(song.frames, 1), dy = height / (hi - lo + 1);
  const y = (pitch) => 4 + (hi - pitch) * dy;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.font = "10px system-ui, sans-serif";
  for (let p = lo; p <= hi; p++) {
    ctx.fillStyle = BLACK.has(p % 12) ? "#eceef3" : "#ffffff";
    ctx.fillRect(left, y(p), width, dy);
    if (p % 12 === 0) {
      ctx.fillStyle = "#56607a";
      ctx.fillText(`${NAMES[0]}${p / 12 - 1}`, 4, y(p) + dy);
      ctx.fillStyle = "#c9cedb";
      ctx.fillRect(left, y(p) + dy - 0.5, width, 1);
    }
  }
  ctx.fillStyle = "rgba(255, 200, 120, 0.25)";
  ctx.fillRect(left, 4, song.primer_frames * dx, height);
  if (song.bar_frames) {
    ctx.fillStyle = "#8a93a8";
    for (let f = 0, bar = 1; f < song.frames; f += song.bar_frames, bar++) {
      ctx.fillRect(left + f * dx, 4, 1, height);
      if ((bar - 1) % Math.max(1, Math.ceil(song.frames / song.bar_frames / 24)) === 0) {
        ctx.fillText(String(bar), left + f * dx + 2, canvas.height - 5);
      }
    }
  }
  for (const [pitch, start, end] of song.notes) {
    ctx.fillStyle = start < song.primer_frames ? "#bf4f14" : "#20408f";
    ctx.fillRect(left + start * dx, y(pitch) + 0.5, Math.max((end - start) * dx - 1, 1), Math.max(dy - 1, 1));
  }
  canvas.dataset.notes = String(song.notes.length);
  canvas.dataset.song = song.id;
}

$("controls").addEventListener("submit", generate);
$("model").addEventListener("change", showModel);
$("primer").addEventListener("change", () => { $("upload-row").hidden = $("primer").value !== "upload"; });
$("temperature").addEventListener("input", () => {
  $("temperature-value").textContent = Number($("temperature").value).toFixed(2);
});
load().catch((error) => say(`cannot reach the studio: ${error.message}`, true));
