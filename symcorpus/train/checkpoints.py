"""A run's checkpoints: checkpoint_<step> folders holding model.pt (weights), optimizer.pt and
state.json (step, tokens, data position, the run's configs and its last metrics)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch


def checkpoint_name(step: int) -> str:
    return f"checkpoint_{step:08d}"


def write_checkpoint(path: Path, model, optimizer, state: dict[str, Any], config: dict[str, Any],
                     metrics: dict[str, Any]) -> None:
    path.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path / "model.pt")
    torch.save(optimizer.state_dict(), path / "optimizer.pt")
    meta = {"state": state, "model": config["model"], "format": config["format"],
            "settings": config["settings"], "kind": config.get("kind"), "metrics": metrics}
    (path / "state.json").write_text(json.dumps(meta, indent=1))


def load_checkpoint(path: Path, model, optimizer, device) -> dict[str, Any]:
    """Weights and optimizer state from `path` into `model` and `optimizer`; returns the saved state."""
    load_weights(path, model, device)
    optimizer.load_state_dict(torch.load(path / "optimizer.pt", map_location=device, weights_only=True))
    return json.loads((path / "state.json").read_text())["state"]


def load_weights(path: Path, model, device) -> None:
    model.load_state_dict(torch.load(path / "model.pt", map_location=device, weights_only=True))


def checkpoints(run_dir: str | Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first."""
    found = [p for p in Path(run_dir).glob("checkpoint_*")
             if (p / "state.json").is_file() and (p / "model.pt").is_file()]
    return sorted(found, key=lambda p: json.loads((p / "state.json").read_text())["state"]["step"])


def latest_checkpoint(path: str | Path) -> Path | None:
    """`path` itself when it is a checkpoint, else the newest checkpoint of the run it names."""
    path = Path(path)
    if (path / "state.json").is_file():
        return path
    found = checkpoints(path) if path.is_dir() else []
    return found[-1] if found else None
