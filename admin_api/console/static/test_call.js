// "Talk to your agent": a test call from the browser through the same media path as a phone
// call. The microphone runs through an 8 kHz AudioContext and mic_worklet.js (mu-law frames of
// 20 ms); the page speaks the Twilio media-stream protocol over a WebSocket the engine relays
// to a call actor (POST /agent/test-call), and plays the agent's mu-law back in order,
// answering each `mark` when the audio before it has played and dropping what is queued on
// `clear`, as Twilio does.
import { html, useState, useRef, useEffect } from "./vendor/preact-htm.js";
import { api } from "./lib.js";

const DECODE = new Float32Array(256); // G.711 mu-law -> linear
for (let i = 0; i < 256; i++) {
  const u = ~i & 0xff;
  const magnitude = ((((u & 0x0f) << 3) + 0x84) << ((u >> 4) & 0x07)) - 0x84;
  DECODE[i] = (u & 0x80 ? -magnitude : magnitude) / 32768;
}
const toBase64 = (bytes) => btoa(String.fromCharCode(...bytes));
const fromBase64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

async function placeCall(onEvent) {
  const clicked = performance.now();
  const link = await api("/agent/test-call", { method: "POST" });
  const mic = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true } });
  const audio = new AudioContext({ sampleRate: 8000 });
  await audio.audioWorklet.addModule("/console/static/mic_worklet.js");
  const encoder = new AudioWorkletNode(audio, "mic-encoder");
  const silent = audio.createGain(); // the encoder must be pulled by the graph to run
  silent.gain.value = 0;
  audio.createMediaStreamSource(mic).connect(encoder).connect(silent).connect(audio.destination);
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}${link.url}`);
  const streamSid = link.stream_sid;
  const send = (message) => ws.readyState === WebSocket.OPEN && ws.send(JSON.stringify(message));
  const playing = new Set();
  let playAt = 0;
  let chunk = 0;
  let heard = false;

  ws.onopen = () => {
    send({ event: "connected", protocol: "Call", version: "1.0.0" });
    send({
      event: "start",
      sequenceNumber: "1",
      streamSid,
      start: {
        streamSid,
        callSid: link.call_sid,
        accountSid: "",
        tracks: ["inbound", "outbound"],
        customParameters: {},
        mediaFormat: { encoding: "audio/x-mulaw", sampleRate: 8000, channels: 1 },
      },
    });
    encoder.port.onmessage = (e) => {
      chunk += 1;
      send({ event: "media", streamSid, media: { track: "inbound", chunk: String(chunk), timestamp: String(chunk * 20), payload: toBase64(e.data) } });
    };
    onEvent({ phase: "live", callSid: link.call_sid, connectedMs: Math.round(performance.now() - clicked) });
  };
  ws.onmessage = (e) => {
    const message = JSON.parse(e.data);
    if (message.event === "media") {
      const bytes = fromBase64(message.media.payload);
      const buffer = audio.createBuffer(1, bytes.length, 8000);
      const samples = buffer.getChannelData(0);
      for (let i = 0; i < bytes.length; i++) samples[i] = DECODE[bytes[i]];
      const source = audio.createBufferSource();
      source.buffer = buffer;
      source.connect(audio.destination);
      playAt = Math.max(playAt, audio.currentTime);
      source.start(playAt);
      playAt += buffer.duration;
      playing.add(source);
      source.onended = () => playing.delete(source);
      if (!heard) {
        heard = true;
        onEvent({ firstAudioMs: Math.round(performance.now() - clicked) });
      }
      onEvent({ agentFrames: 1 });
    } else if (message.event === "mark") {
      const wait = Math.max(0, playAt - audio.currentTime) * 1000;
      setTimeout(() => send({ event: "mark", streamSid, mark: { name: message.mark.name } }), wait);
    } else if (message.event === "clear") {
      for (const source of playing) source.stop();
      playing.clear();
      playAt = audio.currentTime;
    }
  };
  const finish = () => {
    mic.getTracks().forEach((t) => t.stop());
    audio.close();
  };
  ws.onclose = (e) => {
    finish();
    onEvent({ phase: "ended", reason: e.reason || (e.code === 1000 ? "" : `closed (${e.code})`) });
  };
  return () => {
    send({ event: "stop", streamSid, stop: { callSid: link.call_sid } });
    ws.close(1000);
  };
}

export function TestCall() {
  const [call, setCall] = useState({ phase: "idle", agentFrames: 0 });
  const hangUp = useRef(null);
  useEffect(() => () => hangUp.current && hangUp.current(), []);
  const update = (patch) =>
    setCall((c) => ({ ...c, ...patch, agentFrames: c.agentFrames + (patch.agentFrames || 0) }));
  const start = async () => {
    setCall({ phase: "connecting", agentFrames: 0 });
    try {
      hangUp.current = await placeCall(update);
    } catch (e) {
      setCall({ phase: "ended", agentFrames: 0, reason: e.message });
    }
  };
  const stop = () => hangUp.current && hangUp.current();
  const busy = call.phase === "connecting" || call.phase === "live";
  return html`<section class="test-call" aria-labelledby="test-call-title">
    <h2 id="test-call-title">Talk to your agent</h2>
    <p class="hint">A test call from this browser's microphone, through the same path as a phone call, with the saved settings.</p>
    ${!busy && html`<button class="primary" onClick=${start}>Start test call</button>`}
    ${busy && html`<button class="danger" onClick=${stop}>Hang up</button>`}
    <p role="status" data-first-audio-ms=${call.firstAudioMs ?? null} data-connected-ms=${call.connectedMs ?? null}>
      ${call.phase === "connecting" && "Connecting…"}
      ${call.phase === "live" && (call.agentFrames ? "The agent is talking: speak when it is done." : "Connected; waiting for the agent…")}
      ${call.phase === "ended" && `Call ended${call.reason ? `: ${call.reason}` : ""}.`}
      ${call.firstAudioMs != null && ` First audio after ${call.firstAudioMs} ms.`}
    </p>
  </section>`;
}
