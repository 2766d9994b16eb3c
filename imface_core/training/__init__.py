"""Training of the ImFace++ model: configs, losses, the two-stage loop, checkpoints."""
