"""Run by ``torchrun`` in test_training: a few DDP steps, then each rank saves its weights."""

import sys
from pathlib import Path

import torch

from imface_core.training.config import preset, with_overrides
from imface_core.training.trainer import Trainer

data_dir, out_dir = sys.argv[1], Path(sys.argv[2])
cfg = with_overrides(preset("tiny"), stage1_steps=3, stage2_steps=2, batch_scans=2)
trainer = Trainer(data_dir, out_dir, cfg, progress=False, device=torch.device("cpu"))
def snapshot() -> dict:
    state = {f"net.{k}": v.clone() for k, v in trainer.net.state_dict().items()}
    state.update({f"codes.{k}": v.clone() for k, v in trainer.codes.state_dict().items()})
    return state


initial = snapshot()
for _ in range(cfg.total_steps):
    trainer.train_step()
torch.save({"state": snapshot(), "initial": initial, "share": trainer.sampler.scan_ids.tolist()},
           out_dir / f"rank{trainer.dist.rank}.pt")
