"""The model classes a run may hold, by the `kind` in its model config: the runner chooses one when a
run starts, and the loop, checkpoints and sampling rebuild it from the config alone."""

from __future__ import annotations

from typing import Any

import torch.nn as nn

from symcorpus.train.model import GPT, GPTConfig
from symcorpus.train.notes_model import NoteConfig, NoteModel

MODELS: dict[str, tuple[type[nn.Module], type]] = {"gpt": (GPT, GPTConfig), "notes": (NoteModel, NoteConfig)}


def build_model(spec: dict[str, Any]) -> nn.Module:
    """The model a config dict (a config's to_dict(); no `kind` is a GPT) describes, freshly
    initialised."""
    kind = spec.get("kind", "gpt")
    if kind not in MODELS:
        raise ValueError(f"unknown model kind {kind!r} (one of {', '.join(MODELS)})")
    model_class, config_class = MODELS[kind]
    return model_class(config_class(**spec))


def config_from_dict(spec: dict[str, Any]):
    """The config object of a config dict."""
    return MODELS[spec.get("kind", "gpt")][1](**spec)
