"""Run by tests/test_distributed.py under torchrun: fit MemAE with DDP, dump per-rank state.

Usage: torchrun --standalone --nproc_per_node=2 tests/ddp_fit.py TRAIN.npy OUT_DIR
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch

import memae
from memae.distributed import distributed_session, get_rank, get_world_size

train, out = np.load(sys.argv[1]), Path(sys.argv[2])
seeds = []
with distributed_session():
    det = memae.MemAE.from_preset("kdd", epochs=5, batch_size=256, random_state=0)
    # torch.initial_seed() inside an epoch is the seed of that rank's stochastic layers
    det.fit(train, callbacks=(lambda epoch, losses: seeds.append(torch.initial_seed()),))
    det.save(out / "model")
    rank = get_rank()
    np.save(out / f"memory{rank}.npy", det.network_.memory.weight.detach().numpy())
    (out / f"rank{rank}.json").write_text(
        json.dumps({"world_size": get_world_size(), "seeds": seeds, "seed_": det.seed_})
    )
