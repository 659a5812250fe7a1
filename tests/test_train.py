"""Training command: a tiny run, exact resume, export, and DDP with gloo on CPU."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import codec
from codec.cli import main as cli_main
from codec.training.trainer import main as train_main

from conftest import REPO, natural_image

SHAPE_FLAGS = ("--channels", "--image-channels", "--latent-channels")
TINY_ARGS = ["--batch", "2", "--crop", "64", "--channels", "16", "--image-channels", "8",
             "--latent-channels", "4,6,8", "--bf16", "off", "--threads", "1", "--no-progress",
             "--warmup", "2", "--log-every", "1", "--val-every", "3", "--val-fraction", "0.25",
             "--lr", "1e-3"]
# The peer takes --peer-n / --peer-m; the hierarchical VAE's shape options are refused there.
PEER_ARGS = [a for a, b in zip(TINY_ARGS, ["", *TINY_ARGS]) if a not in SHAPE_FLAGS and b not in SHAPE_FLAGS]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("images")
    for i in range(6):
        Image.fromarray(natural_image(80 + 8 * i, 96, seed=i)).save(d / f"img{i}.png")
    return d


def _state(out):
    return torch.load(out / "checkpoint.pt", weights_only=True)


def test_tiny_run_logs_and_checkpoints(folder, tmp_path):
    out = tmp_path / "run"
    assert train_main([str(folder), "--out", str(out), "--steps", "4", *TINY_ARGS]) == 0
    ckpt = _state(out)
    assert ckpt["step"] == 4
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "loss" in r] == [1, 2, 3, 4]
    assert len(records[0]["bpp"]) == 3
    validation = [r["validation"] for r in records if "validation" in r]
    assert validation
    for q in validation[0].values():  # the real coder on the same crops: bytes and 8-bit PSNR
        assert q["coded"]["bpp"] > 0 and 5 < q["coded"]["psnr_db"] < 60
        # and the training forward on the whole validation images (cut to multiples of 64)
        assert len(q["whole"]["bpp"]) == 3 and 5 < q["whole"]["psnr_db"] < 60
    # refuses to overwrite a run without --resume
    with pytest.raises(SystemExit):
        train_main([str(folder), "--out", str(out), "--steps", "4", *TINY_ARGS])


def test_resume_continues_exactly(folder, tmp_path):
    straight, paused = tmp_path / "a", tmp_path / "b"
    assert train_main([str(folder), "--out", str(straight), "--steps", "6", *TINY_ARGS]) == 0
    assert train_main([str(folder), "--out", str(paused), "--steps", "6", "--stop-at", "3", *TINY_ARGS]) == 0
    assert _state(paused)["step"] == 3
    assert train_main([str(folder), "--out", str(paused), "--steps", "6", "--resume", *TINY_ARGS]) == 0
    a, b = _state(straight), _state(paused)
    assert b["step"] == 6
    for name in a["model"]:
        assert torch.equal(a["model"][name], b["model"][name]), name


def test_resume_keeps_the_runs_own_options(folder, tmp_path):
    """--resume alone continues the run as it was started (schedule, batch, crop, moving
    average), not with the defaults of the options left out; an option written changes it."""
    straight, paused = tmp_path / "a", tmp_path / "b"
    run = [*TINY_ARGS, "--ema", "0.9", "--steps", "6", "--decay-steps", "3", "--min-lr-ratio", "0.5"]
    assert train_main([str(folder), "--out", str(straight), *run]) == 0
    assert train_main([str(folder), "--out", str(paused), "--stop-at", "3", *run]) == 0
    assert train_main([str(folder), "--out", str(paused), "--resume", "--no-progress"]) == 0
    a, b = _state(straight), _state(paused)
    assert b["step"] == 6 and b["ema"]["updates"] == 6
    for name in a["model"]:
        assert torch.equal(a["model"][name], b["model"][name]), name
        assert torch.equal(a["ema"]["model"][name], b["ema"]["model"][name]), name
    assert json.loads(b["args"])["lr"] == 1e-3
    assert train_main([str(folder), "--out", str(paused), "--resume", "--no-progress", "--steps", "7",
                       "--lr", "5e-4"]) == 0
    c = json.loads(_state(paused)["args"])
    assert _state(paused)["step"] == 7 and c["lr"] == 5e-4 and c["ema"] == 0.9 and c["crop"] == 64


def test_resume_after_a_kill_logs_each_step_once(folder, tmp_path):
    """Killed after step 3's checkpoint but having logged to 6: the resumed log holds
    steps 1..6 once each, and the records of the lost steps are kept aside."""
    run = tmp_path / "run"
    assert train_main([str(folder), "--out", str(run), "--steps", "6", "--stop-at", "3", *TINY_ARGS]) == 0
    saved = (run / "checkpoint.pt").read_bytes()
    assert train_main([str(folder), "--out", str(run), "--steps", "6", "--resume", *TINY_ARGS]) == 0
    (run / "checkpoint.pt").write_bytes(saved)  # the kill: steps 4..6 were logged, never saved
    assert train_main([str(folder), "--out", str(run), "--steps", "6", "--resume", *TINY_ARGS]) == 0
    steps = [json.loads(line)["step"] for line in (run / "log.jsonl").read_text().splitlines()
             if "loss" in json.loads(line)]
    assert steps == [1, 2, 3, 4, 5, 6]
    lost = [json.loads(line) for line in (run / "log.lost.jsonl").read_text().splitlines()]
    assert sorted({r["step"] for r in lost}) == [4, 5, 6]


def test_export_then_compress(folder, tmp_path, monkeypatch):
    out = tmp_path / "run"
    assert train_main([str(folder), "--out", str(out), "--steps", "2", *TINY_ARGS]) == 0
    monkeypatch.setenv("CODEC_CHECKPOINTS", str(tmp_path / "ckpts"))
    assert cli_main(["export", str(out), "--name", "tiny-trained"]) == 0
    model = codec.load("tiny-trained")
    img = natural_image(40, 40)
    assert model.decompress(model.compress(img, 3)).size == (40, 40)


def test_moving_average_of_the_weights_resumes_exactly_and_exports(folder, tmp_path, monkeypatch, capsys):
    straight, paused = tmp_path / "a", tmp_path / "b"
    ema = ["--ema", "0.9"]
    assert train_main([str(folder), "--out", str(straight), "--steps", "6", *TINY_ARGS, *ema]) == 0
    assert train_main([str(folder), "--out", str(paused), "--steps", "6", "--stop-at", "3", *TINY_ARGS, *ema]) == 0
    assert train_main([str(folder), "--out", str(paused), "--steps", "6", "--resume", *TINY_ARGS, *ema]) == 0
    a, b = _state(straight), _state(paused)
    assert a["ema"]["updates"] == b["ema"]["updates"] == 6
    for name, value in a["ema"]["model"].items():
        assert torch.equal(value, b["ema"]["model"][name]), name
    # the average is not the last weights, and lies within the range the weights moved over
    moved = [n for n, v in a["model"].items() if v.is_floating_point() and not torch.equal(v, a["ema"]["model"][n])]
    assert moved
    records = [json.loads(line) for line in (straight / "log.jsonl").read_text().splitlines()]
    validation = [r["validation"] for r in records if "validation" in r]
    assert validation and "coded" in validation[0]["ema"]["q1"]

    monkeypatch.setenv("CODEC_CHECKPOINTS", str(tmp_path / "ckpts"))
    assert cli_main(["export", str(straight), "--name", "tiny-ema", "--ema", "--float32"]) == 0
    released = codec.load("tiny-ema")._coder.model.state_dict()
    for name, value in a["ema"]["model"].items():
        assert torch.equal(released[name].float(), value.float()), name
    capsys.readouterr()
    plain = tmp_path / "c"
    assert train_main([str(folder), "--out", str(plain), "--steps", "1", *TINY_ARGS]) == 0
    capsys.readouterr()
    assert cli_main(["export", str(plain), "--name", "x", "--ema"]) == 2
    err = capsys.readouterr().err.strip()
    assert "no moving average" in err and len(err.splitlines()) == 1


def test_moving_average_decay_warms_up():
    from codec.training.trainer import WeightAverage

    model = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(0.0)
    average = WeightAverage(model, 0.5)
    for value in (10.0, 20.0):
        with torch.no_grad():
            model.weight.fill_(value)
        average.update(model)
    # update 0: d = min(0.5, 1/10) = 0.1 -> 0.9 * 10 = 9; update 1: d = min(0.5, 2/11) -> 9 + (9/11) * 11
    assert average.model.weight.item() == pytest.approx(9.0 + (1 - 2 / 11) * (20.0 - 9.0))


def test_export_of_a_file_that_is_no_checkpoint_is_one_line(tmp_path, capsys):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    assert cli_main(["export", str(junk), "--name", "x"]) == 2
    err = capsys.readouterr().err
    assert "not a training checkpoint" in err and err.count("\n") == 1


def test_resume_without_checkpoint_is_an_input_error(folder, tmp_path, capsys):
    assert train_main([str(folder), "--out", str(tmp_path / "none"), "--resume", *TINY_ARGS]) == 2
    assert "nothing to resume" in capsys.readouterr().err


def test_missing_folder_is_an_input_error(tmp_path):
    assert train_main([str(tmp_path / "nope"), "--out", str(tmp_path / "r"), "--steps", "1", *TINY_ARGS]) == 2


def test_ddp_gloo_two_processes(folder, tmp_path):
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "codec.training", str(folder), "--out", str(out), "--steps", "3", *TINY_ARGS]
    result = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    ckpt = _state(out)
    assert ckpt["step"] == 3 and len(ckpt["sampler_states"]) == 2


def test_mbt2018_mean_peer_trains_with_the_same_command(folder, tmp_path, monkeypatch):
    out = tmp_path / "peer"
    args = PEER_ARGS
    assert train_main([str(folder), "--out", str(out), "--steps", "2", "--arch", "mbt2018-mean",
                       "--peer-n", "8", "--peer-m", "12", "--lmbda", "0.01", *args]) == 0
    ckpt = _state(out)
    assert ckpt["step"] == 2 and "aux_optimizer" in ckpt and '"arch": "mbt2018-mean"' in ckpt["config"]
    assert train_main([str(folder), "--out", str(out), "--steps", "3", "--resume", *args]) == 0
    monkeypatch.setenv("CODEC_CHECKPOINTS", str(tmp_path / "ckpts"))
    assert cli_main(["export", str(out), "--name", "peer"]) == 0
    manifest = json.loads((tmp_path / "ckpts" / "peers" / "MANIFEST.json").read_text())
    assert manifest["models"]["peer"]["step"] == 3
    assert codec.checkpoints.read_manifest(tmp_path / "ckpts")["models"] == {}  # not a codec model


def test_retarget_log_steps_interpolates_and_extrapolates_at_high_rate_slope():
    from codec.training.run_config import retarget_log_steps
    old = (0.01, 0.04, 0.16)
    table = torch.tensor([[1.0, 0.0], [0.4, -1.0], [0.0, -3.0]])
    state = {"log_steps.0": table.clone(), "other": torch.ones(1)}
    retarget_log_steps(state, old, old)
    assert torch.allclose(state["log_steps.0"], table)
    new = (0.0025, 0.02, 0.64)
    retarget_log_steps(state, old, new)
    got = state["log_steps.0"].double()
    # below the range: step ~ lambda^-1/2 from the first anchor; above: from the last
    assert torch.allclose(got[0], table[0].double() + 0.5 * np.log(4), atol=1e-6)
    assert torch.allclose(got[2], table[2].double() - 0.5 * np.log(4), atol=1e-6)
    # inside: linear in log lambda, halfway between the first two anchors
    assert torch.allclose(got[1], (table[0] + table[1]).double() / 2, atol=1e-6)


def test_resume_can_move_the_quality_anchors(folder, tmp_path):
    out = tmp_path / "run"
    lambdas = "0.001,0.002,0.004,0.008,0.016,0.032,0.064,0.128"
    assert train_main([str(folder), "--out", str(out), "--steps", "2", "--lmbda", lambdas, *TINY_ARGS]) == 0
    before = _state(out)["model"]["log_steps.0"]
    with pytest.raises(SystemExit):  # the count of qualities is part of the weights
        train_main([str(folder), "--out", str(out), "--steps", "3", "--resume", "--lmbda", "0.001,0.1", *TINY_ARGS])
    wider = "0.0005,0.001,0.002,0.004,0.008,0.016,0.032,0.064"
    assert train_main([str(folder), "--out", str(out), "--steps", "3", "--resume", "--lmbda", wider,
                       *TINY_ARGS]) == 0
    ckpt = _state(out)
    assert ckpt["step"] == 3
    assert json.loads(ckpt["config"])["lambdas"] == [float(v) for v in wider.split(",")]
    assert not torch.equal(before, ckpt["model"]["log_steps.0"])


def test_resume_refusals_are_one_line(folder, tmp_path):
    run = tmp_path / "run"
    assert train_main([str(folder), "--out", str(run), "--steps", "1", *TINY_ARGS]) == 0
    with pytest.raises(SystemExit, match="pass one of them") as e:
        train_main([str(folder), "--out", str(run), "--steps", "2", *TINY_ARGS, "--resume",
                   "--init-from", str(run / "checkpoint.pt")])
    (run / "checkpoint.pt").write_bytes(b"truncated")
    with pytest.raises(SystemExit, match="not a training checkpoint") as e:
        train_main([str(folder), "--out", str(run), "--steps", "2", *TINY_ARGS, "--resume"])
    assert "\n" not in str(e.value)
    assert (run / "checkpoint.pt").read_bytes() == b"truncated"  # left as it was


def test_resume_of_a_snapshot_is_refused_in_one_line(folder, tmp_path):
    run = tmp_path / "run"
    assert train_main([str(folder), "--out", str(run), "--steps", "2", "--snapshot-every", "1", *TINY_ARGS]) == 0
    other = tmp_path / "other"
    other.mkdir()
    snapshot = sorted((run / "snapshots").iterdir())[0]
    (other / "checkpoint.pt").write_bytes(snapshot.read_bytes())
    with pytest.raises(SystemExit, match="is a snapshot or export, not a run checkpoint") as e:
        train_main([str(folder), "--out", str(other), "--steps", "3", *TINY_ARGS, "--resume"])
    assert "\n" not in str(e.value)


def test_shape_options_are_never_silently_ignored(folder, tmp_path):  # noqa: F811
    run = tmp_path / "run"
    assert train_main([str(folder), "--out", str(run), "--steps", "1", *TINY_ARGS]) == 0
    for flag, value in (("--channels", "24"), ("--image-channels", "12"), ("--latent-channels", "4,6,12"),
                        ("--context", "checkerboard")):
        with pytest.raises(SystemExit, match=f"{flag} .* differs from the run's") as e:
            train_main([str(folder), "--out", str(run), "--steps", "2", *TINY_ARGS, "--resume", flag, value])
        assert "\n" not in str(e.value)
    peer = tmp_path / "peer"
    with pytest.raises(SystemExit, match="--image-channels shape the hierarchical VAE, not the mbt2018-mean"):
        train_main([str(folder), "--out", str(peer), "--steps", "1", "--arch", "mbt2018-mean", *PEER_ARGS,
                    "--image-channels", "12"])
    assert not peer.exists() or not (peer / "checkpoint.pt").exists()
    with pytest.raises(SystemExit, match="--init-from grows our hierarchical VAE"):
        train_main([str(folder), "--out", str(peer), "--steps", "1", "--arch", "mbt2018-mean", *PEER_ARGS,
                    "--init-from", str(run / "checkpoint.pt")])
    assert not peer.exists() or not (peer / "checkpoint.pt").exists()
    assert train_main([str(folder), "--out", str(peer), "--steps", "1", "--arch", "mbt2018-mean",
                       "--peer-n", "8", "--peer-m", "12", *PEER_ARGS]) == 0
    with pytest.raises(SystemExit, match="--context shape the hierarchical VAE"):
        train_main([str(folder), "--out", str(peer), "--steps", "2", *PEER_ARGS, "--resume", "--context", "none"])
    # nor is the architecture: a resumed run keeps its own, and another --arch is refused
    for out, arch, args in ((peer, "hvae", PEER_ARGS), (run, "mbt2018-mean", TINY_ARGS)):
        with pytest.raises(SystemExit, match=f"--arch {arch} differs from the run's") as e:
            train_main([str(folder), "--out", str(out), "--steps", "2", *args, "--resume", "--arch", arch])
        assert "\n" not in str(e.value)
        assert _state(out)["step"] == 1
    assert train_main([str(folder), "--out", str(run), "--steps", "2", *TINY_ARGS, "--resume", "--arch", "hvae"]) == 0


def test_learning_rate_schedules():
    from codec.training.flags import Schedule, build_parser

    def schedule(*argv):
        return Schedule.from_args(build_parser().parse_args(["x", *argv]))

    cosine = schedule("--lr", "1e-3", "--warmup", "10", "--steps", "110")
    assert cosine.lr_at(0) == pytest.approx(1e-4) and cosine.lr_at(9) == pytest.approx(1e-3)
    assert cosine.lr_at(60) == pytest.approx(1e-3 * (0.02 + 0.98 * 0.5))  # half-way down
    assert cosine.lr_at(110) == pytest.approx(2e-5)
    # warmup-stable-decay: the peak until the last 40 steps, then the same cosine over those
    wsd = schedule("--lr", "1e-3", "--warmup", "10", "--steps", "110", "--decay-steps", "40")
    assert wsd.lr_at(9) == pytest.approx(1e-3) and wsd.lr_at(70) == pytest.approx(1e-3)
    assert wsd.lr_at(90) == pytest.approx(1e-3 * (0.02 + 0.98 * 0.5))
    assert wsd.lr_at(110) == pytest.approx(2e-5)
    # the stable part does not depend on where the run will end: stop early, continue later
    longer = schedule("--lr", "1e-3", "--warmup", "10", "--steps", "500", "--decay-steps", "40")
    assert [longer.lr_at(s) for s in range(70)] == [wsd.lr_at(s) for s in range(70)]


@pytest.mark.parametrize("flag", ["--lmbda", "--beta"])
def test_number_lists_that_do_not_parse_are_usage_errors(flag, folder, tmp_path, capsys):  # noqa: F811
    with pytest.raises(SystemExit) as e:
        train_main([str(folder), "--out", str(tmp_path / "r"), *TINY_ARGS, flag, "0.01,abc"])
    assert e.value.code == 2
    assert f"argument {flag}: takes comma-separated numbers, got '0.01,abc'" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("flag, value, says", [
    ("--prefix-weight", "-0.5", "takes a number in [0, inf)"),
    ("--lr", "0", "takes a number in (0, inf)"),
    ("--ema", "1", "takes a number in [0, 1)"),
    ("--min-lr-ratio", "nan", "takes a number in [0, 1]"),
    ("--batch", "0", "takes a whole number >= 1"),
    ("--steps", "1.5", "takes a whole number"),
])
def test_numbers_out_of_range_are_usage_errors(flag, value, says, folder, tmp_path, capsys):  # noqa: F811
    with pytest.raises(SystemExit) as e:
        train_main([str(folder), "--out", str(tmp_path / "r"), *TINY_ARGS, flag, value])
    assert e.value.code == 2
    assert f"argument {flag}: {says}, got '{value}'" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
