"""Training: SFT steps and the global batch, the training methods (methods/), checkpoints, the memory estimate."""
