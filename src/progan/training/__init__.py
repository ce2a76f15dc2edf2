"""Training: schedule, loop, EMA, checkpoints, telemetry."""
