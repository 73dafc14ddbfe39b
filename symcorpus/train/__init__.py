"""Training and sampling: a decoder-only transformer pretrained and fine-tuned on token shards with
Ray Train (or in one process), then sampled and evaluated against its conditions.

    model.py     the transformer (rotary positions, SDPA, tied embeddings), KV cache
    data.py      token shards -> packed, shuffled blocks (pyarrow iterator and Ray Data pipeline)
    loop.py      train_loop_per_worker: the one loop for Ray's TorchTrainer and for --no-ray
    backend.py   where the loop runs: LocalBackend (this process) or RayBackend (a Ray Train worker)
    checkpoints.py  checkpoint folders: write, load, list
    runner.py    pretrain / finetune drivers, runs in storage_path/name, resume by name
    generate.py  sampling with a KV cache; MIDI/ABC, piano-roll PNG, optional WAV
    evaluate.py  CK / CTS / TB / TBT / CI of generated samples
    commands.py  the CLI's functions

model.py needs only PyTorch. The loop (`--no-ray`) needs PyTorch, pyarrow and the tokenizers, never
Ray: Ray is imported only by RayBackend and the Ray driver in runner.py.
"""
