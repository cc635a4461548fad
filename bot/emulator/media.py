"""The stitched recording: one WAV file whose length is the time spent RECORDING.

Each recorded segment becomes a stretch of tone (a different pitch per segment, so a listener can
hear the joins); paused time is cut out, not filled with silence.
"""

from __future__ import annotations

import io
import math
import wave

RATE = 8000


def stitch_wav(segments: list[tuple[float, float]], rate: int = RATE) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(1)
        out.setframerate(rate)
        for index, (start, end) in enumerate(segments):
            frames = max(0, round((end - start) * rate))
            pitch = 440.0 * (1.25 ** (index % 4))
            period = rate / pitch
            cycle = bytes(int(128 + 60 * math.sin(2 * math.pi * i / period)) for i in range(round(period * 20)))
            whole, rest = divmod(frames, len(cycle))
            out.writeframes(cycle * whole + cycle[:rest])
    return buffer.getvalue()


def wav_duration(data: bytes) -> float:
    with wave.open(io.BytesIO(data), "rb") as wav:
        return wav.getnframes() / float(wav.getframerate())
