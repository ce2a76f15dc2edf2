"""``progan bench``: training-step throughput (:mod:`~progan.bench.throughput`) against a deliberately plain
eager step (:mod:`~progan.bench.baseline`), shipped so users can measure both on their own hardware."""
