"""Experiment tracking through TRL's own integrations (`report_to`): tensorboard, trackio, wandb, ...

`run.report_to` lists the trackers; they get every metric TRL logs each step, our judge telemetry
included (`judge/flagged_step_rate`, `judge/vote_agreement`, ...: TRL merges the trainer's metrics
into its logs; tensorboard and wandb show them under `train/`). Where each one writes:

    tensorboard   <run>/tensorboard (or $TENSORBOARD_LOGGING_DIR); a resumed run drops the events
                  past its checkpoint, as metrics.jsonl does
    trackio       local SQLite under $TRACKIO_DIR (default ~/.cache/huggingface/trackio; `trackio
                  show` opens the dashboard), project `capo` unless trl.project says otherwise;
                  nothing is uploaded unless trl.trackio_space_id names a Space
    wandb         offline: <run>/wandb (WANDB_MODE=offline and WANDB_DIR=<run> unless already set;
                  `wandb sync <run>/wandb/offline-run-*` uploads later)

`run.tensorboard` is the old switch, kept as an alias: true adds tensorboard to run.report_to,
false removes it.
"""

from __future__ import annotations

import os
from pathlib import Path

from capo.errors import CapoError


def known_trackers() -> list[str]:
    from transformers.integrations.integration_utils import INTEGRATION_TO_CALLBACK

    return sorted(INTEGRATION_TO_CALLBACK)


def _listed(run) -> list[str]:
    return [run.report_to] if isinstance(run.report_to, str) else list(run.report_to)


def trackers(run) -> list[str]:
    """run.report_to with the run.tensorboard alias applied; [] means none."""
    names = [n for n in _listed(run) if n != "none"]
    if run.tensorboard is True and "tensorboard" not in names:
        names.append("tensorboard")
    if run.tensorboard is False:
        names = [n for n in names if n != "tensorboard"]
    return names


def check_trackers(run) -> None:
    """Known names only, and installed: one line naming the key before any work."""
    if "all" in _listed(run):
        raise CapoError("config key 'run.report_to': list the trackers by name ('all' would start every "
                        "integration that happens to be installed)")
    known = known_trackers()
    for name in _listed(run):
        if name != "none" and name not in known:
            raise CapoError(f"config key 'run.report_to': unknown tracker {name!r}; use tensorboard, trackio, "
                            f"wandb or another of transformers' integrations ({', '.join(known)})")
    from importlib.util import find_spec

    for name, module, extra in (("trackio", "trackio", "track"), ("wandb", "wandb", "track")):
        if name in trackers(run) and find_spec(module) is None:
            raise CapoError(f"config key 'run.report_to': {name} is not installed (pip install 'capo[{extra}]')")


def grpo_tracking_args(config, run_dir: Path) -> dict:
    """GRPOConfig fields: report_to, and a project / run name that say which run this is."""
    names = trackers(config.run)
    return {"report_to": names or "none", "project": config.trl.get("project", "capo"),
            "run_name": config.trl.get("run_name") or run_dir.name}


def prepare_environment(names: list[str], run_dir: Path) -> None:
    """Offline defaults, set before the integrations import their libraries (trackio reads
    TRACKIO_DIR at import). A variable the user set wins."""
    if "wandb" in names:
        os.environ.setdefault("WANDB_MODE", "offline")
        os.environ.setdefault("WANDB_DIR", str(run_dir))
        os.environ.setdefault("WANDB_PROJECT", "capo")


def attach(trainer, run_dir: Path, resume_step: int, first_callbacks: tuple = ()) -> None:
    """After the trainer is built: tensorboard writes to <run>/tensorboard, purging the steps after
    a resumed checkpoint; the callbacks of type `first_callbacks` (which add metrics to the logs)
    run before the trackers, so the trackers see those metrics too."""
    from transformers.integrations import TensorBoardCallback

    handler = trainer.callback_handler
    handler.callbacks.sort(key=lambda cb: not isinstance(cb, first_callbacks))  # stable: keeps the rest's order
    for cb in handler.callbacks:
        if isinstance(cb, TensorBoardCallback) and cb.tb_writer is None and trainer.args.process_index == 0:
            logdir = os.environ.get("TENSORBOARD_LOGGING_DIR") or str(run_dir / "tensorboard")
            from torch.utils.tensorboard import SummaryWriter  # the writer transformers' callback prefers

            cb.tb_writer = SummaryWriter(log_dir=logdir, purge_step=resume_step + 1 if resume_step else None)
