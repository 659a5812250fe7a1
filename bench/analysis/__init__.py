"""Analyses from the papers behind the codec: ``python -m bench.analysis <sub> ...``.

::

    images (folder) ─patches─> crops / full images (N, 3, H, W) in [0, 1]
    model (shipped release or training checkpoint) ─models─> NamedModel
        │
        ├─ spectrum      latents ranked like PCA eigenvalues, next to the KLT of 8x8x3 blocks,
        │                and the isometric-embedding estimate of -log2 p(x) vs the bits spent
        │                (Nakagawa, Kato & Suzuki, ICML 2021)
        ├─ ima           decoder Jacobian per layer: IMA contrast, column-norm spread, isometry,
        │                encoder/decoder self-consistency, q = 1..Q (Reizinger et al., NeurIPS 2022)
        ├─ rate-trading  per-layer beta grid through ``python -m codec.training``, rates per layer,
        │                distortion and progressive reconstructions (Xiao & Bamler, ICLR 2023)
        └─ similarity    linear CKA and orthogonal Procrustes between the activations of every
                         conv/GDN, across checkpoints, qualities and models (Bonheme & Grzes 2022)
                 │
                 └─> results JSON (outputs) + PNG (each analysis's figures, through plotting)

One folder per analysis (``spectrum/``, ``ima/``, ``rate_trading/``, ``similarity/``): its
``__init__`` is the entry (``HELP``, ``add_arguments``, ``run``), beside its maths and its
``figures.py``. Shared: ``latents`` (the model's top-down pass, recorded), ``models``,
``patches``, ``options``, ``outputs``, ``plotting``. A new analysis is a new folder and one
line in ``cli.ANALYSES``.

Every computation with a known answer (CKA, Procrustes, IMA contrast, KLT spectrum, JVP
Jacobians, water-filling) has a test in ``tests/test_analysis_*.py`` on a tiny random model.
"""
