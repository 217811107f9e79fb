"""Which directory entries belong to which recordings, for removing a batch at once."""

from __future__ import annotations

from memory.recording_files import files_of

A = "RE" + "a" * 32
B = "RE" + "b" * 32


def test_a_recordings_files_are_its_audio_and_its_partial_downloads() -> None:
    names = [
        f"{A}.wav",
        f"{A}.mp3",
        f"{A}.0badf00d.part",
        f"{B}.wav",
        f"{A}.wav.bak",
        f"{A}.txt",
        f"x{A}.wav",
        f"{A}.../x.part",
        "..",
    ]
    assert files_of({A}, names) == [f"{A}.wav", f"{A}.mp3", f"{A}.0badf00d.part"]
    assert files_of({A, B}, names) == [f"{A}.wav", f"{A}.mp3", f"{A}.0badf00d.part", f"{B}.wav"]
    assert files_of(set(), names) == []
