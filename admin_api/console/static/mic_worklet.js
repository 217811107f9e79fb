// The test call's microphone, in the audio thread: the AudioContext runs at 8 kHz (the browser
// resamples the microphone), so each 20 ms frame is 160 samples, encoded here as G.711 mu-law
// and posted to the page, which sends it as a Twilio `media` message.
const FRAME = 160;

function mulaw(sample) {
  const BIAS = 0x84;
  let s = Math.max(-1, Math.min(1, sample)) * 32767;
  const sign = s < 0 ? 0x80 : 0;
  if (sign) s = -s;
  s = Math.min(s + BIAS, 32635 + BIAS);
  let exponent = 7;
  for (let mask = 0x4000; (s & mask) === 0 && exponent > 0; mask >>= 1) exponent--;
  const mantissa = (s >> (exponent + 3)) & 0x0f;
  return ~(sign | (exponent << 4) | mantissa) & 0xff;
}

class MicEncoder extends AudioWorkletProcessor {
  constructor() {
    super();
    this.frame = new Uint8Array(FRAME);
    this.filled = 0;
  }

  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (!channel) return true;
    for (let i = 0; i < channel.length; i++) {
      this.frame[this.filled++] = mulaw(channel[i]);
      if (this.filled === FRAME) {
        this.port.postMessage(this.frame.slice());
        this.filled = 0;
      }
    }
    return true;
  }
}

registerProcessor("mic-encoder", MicEncoder);
