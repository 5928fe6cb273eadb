"""Training backends: where a ``RunConfig`` is trained.

``torch`` is TRL's DPOTrainer (``core.training.engine``) on CUDA, Apple MPS or the CPU; ``mlx`` is Apple's MLX
(``mlx_trainer``), the fast path on Apple Silicon. ``selection`` says which one a config will use and why, without
importing either (the Training form shows it); both emit the same events and write the same run folder, and an MLX
run's adapters are saved as PEFT adapter folders (``mlx_adapters``), so everything after training works unchanged.
"""
