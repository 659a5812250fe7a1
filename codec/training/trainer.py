"""Training command: ``codec train`` / ``python -m codec.training``.

Random flipped crops of image folders, a variable-rate objective (quality sampled
uniformly in [1, Q] per image, lambda interpolated log-linearly between the anchors)
with per-layer betas::

    loss = mean(lmbda * 255^2 * MSE + sum_k beta_k * bpp_k)

Checkpoints (model, optimizer, step, RNG states) are written every few minutes and on
Ctrl-C; ``--resume`` continues exactly (:mod:`codec.training.state`). Runs data-parallel
under ``torchrun`` (:mod:`codec.training.process`). What the run is comes from
:mod:`codec.training.run_config`; this module is the step, the validation and the loop.
"""
from __future__ import annotations

import copy
import json
import signal
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ..config import ModelConfig
from ..metrics import psnr_db, psnr_rgb_db
from .data import CropSampler, center_crops, is_validation, list_images, load_rgb, whole_images
from .flags import Schedule, build_parser, given_options, resumed_args
from .grow import describe, grow
from .peer import build_model
from .process import Process
from .run_config import plan_run, stored_args
from .state import RunFolder


class WeightAverage:
    """An exponential moving average of a model's parameters and buffers (Polyak averaging, as
    lossy-vae trains with): ``avg += (1 - d) * (w - avg)`` after each step, with the decay
    ``d = min(decay, (1 + n) / (10 + n))`` over the first ``n`` updates so early weights fade."""

    def __init__(self, model: torch.nn.Module, decay: float):
        if not 0 < decay < 1:
            raise SystemExit(f"error: --ema takes a decay in (0, 1), got {decay}")
        self.decay, self.updates = decay, 0
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for avg, w in zip(self.model.state_dict().values(), model.state_dict().values()):
            if avg.is_floating_point():
                avg.lerp_(w, 1 - d)
            else:
                avg.copy_(w)
        self.updates += 1

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "updates": self.updates, "decay": self.decay}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.updates = int(state["updates"])


class Trainer:
    def __init__(self, args):
        self.args = args
        self.process = Process(args.threads, args.bf16)
        self.device, self.main = self.process.device, self.process.main
        self.folder = RunFolder(args.out, self.main)
        self.schedule = Schedule.from_args(args)
        plan = plan_run(args, self.folder.ckpt_path, self.main)
        self.config, self.betas = plan.config, plan.betas

        torch.manual_seed(args.seed)
        # channels_last: one forward+backward of hvae-v7 (batch 4 x 256 px, bf16, 2 threads) took
        # 0.25 s vs 0.31 s contiguous; whole training steps here were within noise (250 steps in
        # 63 / 68 s vs 64 / 72 s). Kept: it costs nothing and GPUs run bf16 convs in NHWC.
        self.model = build_model(self.config).to(self.device, memory_format=torch.channels_last)
        named = list(self.model.named_parameters())
        # CompressAI's entropy bottleneck learns its quantiles with a separate auxiliary loss;
        # a context added to a trained model learns at its own, larger rate.
        aux = [p for n, p in named if n.endswith(".quantiles")]
        context = [p for n, p in named if n.startswith("context.")]
        groups = [{"params": [p for n, p in named if not n.endswith(".quantiles") and not n.startswith("context.")]}]
        if context:
            groups.append({"params": context, "lr_scale": args.context_lr_scale})
        self.optimizer = torch.optim.Adam(groups, lr=args.lr)
        self.aux_optimizer = torch.optim.Adam(aux, lr=1e-3) if aux else None
        self.step, self.elapsed = 0, 0.0
        self.prefix_rng = torch.Generator().manual_seed(args.seed)  # --prefix-weight's k per batch

        paths = list_images(args.folders)
        val_paths = [p for p in paths if is_validation(p, args.val_fraction)]
        t0 = time.time()
        self.sampler = CropSampler([load_rgb(p, args.crop) for p in paths if p not in val_paths], args.crop,
                                   seed=args.seed * 1000 + self.process.rank)
        val_images = [load_rgb(p, 256) for p in val_paths]
        self.val = center_crops(val_images, 256) if val_paths else None
        self.val_whole = whole_images(val_images, getattr(self.config, "pad_multiple", 64))
        if self.main:
            print(f"{len(paths) - len(val_paths)} training / {len(val_paths)} validation images decoded in "
                  f"{time.time() - t0:.1f} s; device {self.device}, bf16 {self.process.bf16}, "
                  f"world {self.process.world}", file=sys.stderr)

        # Channels grown by --init-from (first new channel per layer); kept in the checkpoint.
        self.grown_from = None
        if plan.resume is not None:
            self.grown_from = plan.resume.get("grown_from")
            self._restore(plan.resume)
        elif plan.source is not None:
            source = plan.source
            if source.config.latent_channels != self.config.latent_channels:
                self.grown_from = list(source.config.latent_channels)
            grown = grow(source, self.config.latent_channels, images=self.sampler.batch(args.batch),
                         seed=args.seed, context=self.config.context, image_channels=self.config.image_channels,
                         inject=self.config.inject)
            self.model.load_state_dict(grown.state_dict())
            if self.main:
                print(f"initialised from {args.init_from} ({describe(source.config, self.config)})",
                      file=sys.stderr)
        self.ema = WeightAverage(self.model, args.ema) if args.ema > 0 else None
        if self.ema is not None and plan.resume is not None and "ema" in plan.resume:
            self.ema.load_state_dict(plan.resume["ema"])
        self.net = self.process.wrap(self.model)

    # -- checkpoints ---------------------------------------------------------------------
    def _restore(self, resume: dict) -> None:
        self.model.load_state_dict(resume["model"])
        self.optimizer.load_state_dict(resume["optimizer"])
        if self.aux_optimizer is not None:
            self.aux_optimizer.load_state_dict(resume["aux_optimizer"])
        self.step = resume["step"]
        self.elapsed = resume.get("elapsed_seconds", 0.0)
        samplers = resume.get("sampler_states", [])
        if self.process.rank < len(samplers):
            self.sampler.set_state(json.loads(samplers[self.process.rank]))
        torch.set_rng_state(resume["torch_rng"])
        if "prefix_rng" in resume:
            self.prefix_rng.set_state(resume["prefix_rng"])
        if self.main:
            self.folder.set_aside_lost_log(self.step)

    def save(self, gather: bool = True) -> None:
        """Write the checkpoint (rank 0). ``gather`` collects every rank's sampler state,
        a collective call: all ranks must reach it at the same step."""
        state = json.dumps(self.sampler.state())
        states = self.process.gather(state) if gather else [state]
        if not self.main:
            return
        self.folder.save({
            "config": self.config.to_json(),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            **({"aux_optimizer": self.aux_optimizer.state_dict()} if self.aux_optimizer else {}),
            "step": self.step,
            **({"ema": self.ema.state_dict()} if self.ema is not None else {}),
            **({"grown_from": self.grown_from} if self.grown_from is not None else {}),
            "elapsed_seconds": self.elapsed,
            "sampler_states": states,
            "torch_rng": torch.get_rng_state(),
            "prefix_rng": self.prefix_rng.get_state(),
            "args": json.dumps(vars(self.args)),
        })

    # -- steps ---------------------------------------------------------------------------
    def train_step(self) -> dict:
        x = self.sampler.batch(self.args.batch).to(self.device, non_blocking=True,
                                                   memory_format=torch.channels_last)
        Q = self.config.num_qualities
        quality = 1 + (Q - 1) * torch.rand(x.shape[0], device=self.device)
        for group in self.optimizer.param_groups:
            group["lr"] = self.schedule.lr_at(self.step) * group.get("lr_scale", 1.0)
        L = self.config.num_layers
        prefix = None
        if self.args.prefix_weight > 0 and L > 1:  # one k per batch, the same on every rank
            prefix = 1 + int(torch.randint(L - 1, (1,), generator=self.prefix_rng))
        with self.process.autocast():
            out = self.net(x, quality, prefix) if prefix else self.net(x, quality)
        x_hat = out.x_hat.float()
        mse = (x_hat - x).square().mean(dim=(1, 2, 3))
        if prefix:
            mse = mse + self.args.prefix_weight * (out.x_hat_prefix.float() - x).square().mean(dim=(1, 2, 3))
        rate = sum(b * r for b, r in zip(self.betas, self.weighted_bpp(out, x)))
        loss = (self.model.lmbda(quality) * 255**2 * mse + rate).mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        if self.aux_optimizer is not None:
            self.aux_optimizer.zero_grad(set_to_none=True)
            self.model.aux_loss().backward()
            self.aux_optimizer.step()
        if self.ema is not None:
            self.ema.update(self.model)
        self.step += 1
        record = {"loss": loss.item(), "bpp": [r.mean().item() for r in out.bpp],
                  "psnr_db": psnr_db(x_hat.detach(), x).mean().item()}
        if prefix:
            record.update(prefix_layers=prefix, prefix_psnr_db=psnr_db(out.x_hat_prefix.detach().float(), x).mean().item())
        return record

    def weighted_bpp(self, out, x: torch.Tensor) -> list[torch.Tensor]:
        """Per-layer bpp for the loss: grown channels pay a rate weight ramping 0 -> 1 over
        --grow-warmup steps (KL annealing for the new channels only); else ``out.bpp``."""
        ramp = self.args.grow_warmup
        if self.grown_from is None or ramp <= 0 or self.step >= ramp or out.channel_bits is None:
            return out.bpp
        w = self.step / ramp
        num_pixels = x.shape[2] * x.shape[3]
        return [(cb[:, :m].sum(1) + w * cb[:, m:].sum(1)) / num_pixels
                for cb, m in zip(out.channel_bits, self.grown_from)]

    # -- validation ----------------------------------------------------------------------
    @torch.no_grad()
    def validate(self) -> dict:
        result = self._validate(self.model)
        if self.ema is not None:
            result["ema"] = self._validate(self.ema.model)
        return result

    def _validate(self, model) -> dict:
        train_model, self.model = self.model, model
        try:
            return self._validate_current()
        finally:
            self.model = train_model

    def _validate_current(self) -> dict:
        self.model.eval()
        Q = self.config.num_qualities
        qualities = sorted({1.0, float(1 + (Q - 1) // 2), float(Q)})
        result = {f"q{q:g}": self._forward_stats(list(self.val.split(8)), q) for q in qualities}
        if isinstance(self.config, ModelConfig):
            for q, coded in zip(qualities, self.validate_coded(qualities)):
                result[f"q{q:g}"]["coded"] = coded
        if self.val_whole:  # whole images: crop-size gaps of the upper layers show here
            for q in qualities:
                result[f"q{q:g}"]["whole"] = self._forward_stats(self.val_whole, q)
        self.model.train()
        return result

    def _forward_stats(self, batches: list[torch.Tensor], q: float) -> dict:
        """Mean training-forward bpp per layer and PSNR over the images of ``batches``."""
        bpp, psnr = [], []
        for x in batches:
            x = x.to(self.device)
            out = self.model(x, torch.full((x.shape[0],), q, device=self.device))
            bpp.append(torch.stack(out.bpp, 1).cpu())
            psnr.append(psnr_db(out.x_hat.float(), x).cpu())
        return {"bpp": [round(v, 4) for v in torch.cat(bpp).mean(0).tolist()],
                "psnr_db": round(torch.cat(psnr).mean().item(), 3)}

    def validate_coded(self, qualities: list[float]) -> list[dict]:
        """The same crops through the real coder (a CPU copy of the model), per quality: bpp
        from the bytes written and PSNR of the 8-bit decode. Catches what the training forward
        cannot see: tables, escapes, snapping, the container."""
        from ..api import Codec

        coder = Codec.from_model(copy.deepcopy(self.model).float().cpu(), "validation")
        pixels = (self.val * 255).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
        out = []
        for q in qualities:
            bpp, psnr = [], []
            for image in pixels:
                data = coder.compress(image, q)
                bpp.append(8 * len(data) / (image.shape[0] * image.shape[1]))
                psnr.append(psnr_rgb_db(image, np.asarray(coder.decompress(data))))
            out.append({"bpp": round(float(np.mean(bpp)), 4), "psnr_db": round(float(np.mean(psnr)), 3)})
        return out

    # -- the loop ------------------------------------------------------------------------
    def run(self) -> None:
        args = self.args
        stop = {"flag": False}
        signal.signal(signal.SIGTERM, lambda signum, frame: stop.update(flag=True))
        progress = None
        if self.main and not args.no_progress:
            from tqdm import tqdm
            progress = tqdm(total=args.steps, initial=self.step, dynamic_ncols=True)
        last_save, saved_at = time.time(), self.step
        window, t_start = [], time.time()
        try:
            end = min(args.steps, args.stop_at or args.steps)
            while self.step < end:
                t0 = time.time()
                stats = self.train_step()
                self.elapsed += time.time() - t0
                window.append(stats)
                if progress is not None:
                    progress.update(1)
                    progress.set_postfix_str(f"loss {stats['loss']:.3f} bpp "
                                             f"{'/'.join(f'{b:.3f}' for b in stats['bpp'])} psnr {stats['psnr_db']:.2f}")
                if self.step % args.log_every == 0:
                    n = len(window)
                    # --prefix-weight: the prefix decodes' PSNR per prefix length (a fresh k per batch)
                    prefix = {}
                    for w in window:
                        if "prefix_layers" in w:
                            prefix.setdefault(str(w["prefix_layers"]), []).append(w["prefix_psnr_db"])
                    self.folder.log({
                        "step": self.step,
                        "loss": sum(w["loss"] for w in window) / n,
                        "bpp": [sum(w["bpp"][k] for w in window) / n for k in range(len(window[0]["bpp"]))],
                        "psnr_db": sum(w["psnr_db"] for w in window) / n,
                        **({"prefix_psnr_db": {k: sum(v) / len(v) for k, v in sorted(prefix.items())}} if prefix else {}),
                        "lr": self.schedule.lr_at(self.step - 1),
                        "steps_per_s": n / max(1e-9, time.time() - t_start),
                        "elapsed_seconds": round(self.elapsed, 1),
                    })
                    window, t_start = [], time.time()
                if self.val is not None and self.main and self.step % args.val_every == 0:
                    self.folder.log({"step": self.step, "validation": self.validate()})
                # Save and stop (SIGTERM) only at points every rank reaches together.
                if args.snapshot_every and self.step % args.snapshot_every == 0 and self.main:
                    self.folder.snapshot(self.config.to_json(), self.model.state_dict(), self.step)
                if self.step % args.log_every == 0 or self.step == end:
                    due = time.time() - last_save > args.save_minutes * 60
                    decision = self.process.agree(int(due) | 2 * int(stop["flag"]))
                    if decision or self.step == end:
                        self.save()
                        last_save, saved_at = time.time(), self.step
                    if decision & 2:
                        break
        except KeyboardInterrupt:
            if self.main:
                print("\ninterrupted: saving checkpoint", file=sys.stderr)
        finally:
            if saved_at != self.step:
                # Interrupted between agreed save points: other ranks may be gone, so no gather.
                self.save(gather=False)
            if progress is not None:
                progress.close()
            self.process.finish(together=saved_at == self.step)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.resume:
            args = resumed_args(args, stored_args(Path(args.out) / "checkpoint.pt"), given_options(argv))
        Trainer(args).run()
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
