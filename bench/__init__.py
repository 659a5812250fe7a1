"""Rate-distortion benchmark of the project's codec against classical and reference codecs.

    images (folder) -> Codec.run(image, quality) -> Record  (bench.codecs, one class per codec)
                    -> per-image cache + CSV              (bench.runner, bench.cache)
                    -> dataset means per quality: Curve   (bench.summary, one JSON schema)
                    -> BD-rate table (bench.report), plots (bench.plots: the rd figures)

Run ``python -m bench rd --dataset DIR``; see ``python -m bench --help``.
Rate is always 8 x bytes actually written / pixels; PSNR-RGB is computed on the 8-bit
decoded image against the 8-bit original, per image, then averaged over images.
"""
