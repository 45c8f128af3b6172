"""The HuggingFace encoder's default progress bar shows on a terminal only (quiet in scripts and CI)."""

import io
import sys

from semantic_router.encoders import HuggingFaceEncoder


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _captured(encoder, monkeypatch, stream):
    seen = {}

    class Model:
        def encode(self, texts, **kwargs):
            seen.update(kwargs)
            import numpy as np
            return np.ones((len(texts), 384), np.float32)

    monkeypatch.setattr(sys, "stderr", stream)
    monkeypatch.setattr(type(encoder), "model", property(lambda self: Model()))
    encoder.encode([f"text {i}" for i in range(1000)], "document")  # above the bar's minimum batch
    return seen["show_progress_bar"]


def test_no_bar_without_a_terminal(monkeypatch):
    assert _captured(HuggingFaceEncoder(), monkeypatch, io.StringIO()) is False


def test_bar_on_a_terminal_for_long_work(monkeypatch):
    assert _captured(HuggingFaceEncoder(), monkeypatch, _Tty()) is True


def test_explicit_choice_wins(monkeypatch):
    assert _captured(HuggingFaceEncoder(show_progress=False), monkeypatch, _Tty()) is False
