"""Learned signals: any labelled texts become a classifier (a `TextClassifier`), and two ship built in.

    from semantic_router.learn import load_signal, train_signal
    domains = load_signal("builtin:domains")          # the 14 MMLU-Pro subjects, offline
    domains.predict(["What is the enthalpy of formation of water?"])   # ['chemistry']
    signal, report = train_signal(texts, labels)      # needs the `learn` extra (scikit-learn)
    signal.save("tickets.npz")

Inference is numpy only; training needs scikit-learn (the `learn` extra: `pip install -e '.[learn]'` in a clone).
"""

from __future__ import annotations

from semantic_router.learn.artifact import read_classifier
from semantic_router.learn.builtin import BUILTIN, builtin_path, extend_data, load_signal
from semantic_router.learn.classifier import TextClassifier
from semantic_router.learn.report import TrainReport
from semantic_router.learn.routing import ClassifierRouter
from semantic_router.learn.train import Settings, train_signal

__all__ = ["BUILTIN", "ClassifierRouter", "Settings", "TextClassifier", "TrainReport", "builtin_path",
           "extend_data", "load_signal", "read_classifier", "train_signal"]
