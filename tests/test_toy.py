"""progan toy: the 1-D GAN (issue 7). Formulas are checked against hand-written references."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from progan.cli import main
from progan.errors import DataError, UserError
from progan.toy import (
    ToyConfig,
    compare,
    draw_numbers,
    ks_two_sample,
    parse_numbers,
    read_numbers,
    summarize,
    train_toy,
)
from progan.toy.losses import gradient_penalty, minimax_d, minimax_g, non_saturating_g, wgan_d, wgan_g
from progan.toy.report import collapse_message, report_dict, report_text

# ---------------------------------------------------------------- losses

def test_minimax_is_the_formula() -> None:
    real_logits = torch.tensor([2.0, -1.0, 0.5])
    fake_logits = torch.tensor([-3.0, 0.0, 1.5, 4.0])
    d_real = 1 / (1 + np.exp(-real_logits.double().numpy()))
    d_fake = 1 / (1 + np.exp(-fake_logits.double().numpy()))
    j_d = -0.5 * np.mean(np.log(d_real)) - 0.5 * np.mean(np.log(1 - d_fake))
    assert minimax_d(real_logits, fake_logits).item() == pytest.approx(j_d, rel=1e-6)
    assert minimax_g(real_logits, fake_logits).item() == pytest.approx(-j_d, rel=1e-6)
    assert non_saturating_g(real_logits, fake_logits).item() == pytest.approx(
        -0.5 * np.mean(np.log(d_fake)), rel=1e-6)


def test_losses_stay_finite_where_sigmoid_saturates() -> None:
    real, fake = torch.tensor([-60.0, 60.0]), torch.tensor([60.0, -60.0])
    # log(1 - sigmoid(60)) = -60 in exact arithmetic; the naive form gives log(0) = -inf.
    assert minimax_d(real, fake).item() == pytest.approx(-0.5 * (-60 / 2) - 0.5 * (-60 / 2), rel=1e-4)
    assert math.isfinite(non_saturating_g(real, fake).item())


def test_wgan_costs_and_gradient_penalty() -> None:
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([0.0, -2.0])
    assert wgan_d(real, fake).item() == pytest.approx(-1.0 - 2.0)
    assert wgan_g(real, fake).item() == pytest.approx(1.0)
    gen = torch.Generator().manual_seed(0)
    x_real, x_fake = torch.randn(64, 1), torch.randn(64, 1) + 2
    steep = torch.nn.Linear(1, 1)
    with torch.no_grad():
        steep.weight.fill_(3.0)
    # A critic of slope 3 has |grad| = 3 everywhere: penalty (3 - 1)^2 = 4 either way.
    assert gradient_penalty(steep, x_real, x_fake, gen).item() == pytest.approx(4.0)
    assert gradient_penalty(steep, x_real, x_fake, gen, one_sided=True).item() == pytest.approx(4.0)
    with torch.no_grad():
        steep.weight.fill_(-0.5)
    assert gradient_penalty(steep, x_real, x_fake, gen).item() == pytest.approx(0.25)
    assert gradient_penalty(steep, x_real, x_fake, gen, one_sided=True).item() == 0.0


# ---------------------------------------------------------------- statistics

def test_ks_statistic_by_hand() -> None:
    # F_a - F_b at 1, 2, 2.5, 3, 3.5, 4, 10: .25-0, .5-0, .5-1/3, .75-1/3, .75-2/3, 1-2/3, 1-1
    assert ks_two_sample([1, 2, 3, 4], [2.5, 3.5, 10]).statistic == pytest.approx(0.5)
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=37), rng.normal(0.3, 1.2, size=23)
    grid = np.concatenate([a, b])

    def ecdf(x: np.ndarray) -> np.ndarray:
        return (np.sort(x)[None, :] <= grid[:, None]).mean(axis=1)
    assert ks_two_sample(a, b).statistic == pytest.approx(np.abs(ecdf(a) - ecdf(b)).max())
    assert ks_two_sample(a, a).statistic == 0.0


def test_summary_quantiles_and_population_std() -> None:
    s = summarize(np.arange(1.0, 101.0))
    assert (s.count, s.mean) == (100, 50.5)
    assert s.std == pytest.approx(math.sqrt((100**2 - 1) / 12))
    assert s.quantiles == pytest.approx({"p5": 5.95, "p25": 25.75, "p50": 50.5, "p75": 75.25, "p95": 95.05})


def test_compare_ranks_by_density_and_reports_d() -> None:
    c = compare([24.0, 15.0, 30.0], np.array([0.02, 0.08, 0.0199]), np.array([0.4, 0.6, 0.45]))
    assert c.ranking == [15.0, 24.0, 30.0]
    assert c.answers[0].startswith("15 is more likely than 24:")
    assert "(agrees)" in c.answers[0]
    assert c.answers[1].startswith("24 is about as likely as 30:")  # within 5 %
    assert "(leans the other way)" in c.answers[1]
    assert c.to_dict()["values"][0] == {"value": 24.0, "density": 0.02, "discriminator": 0.4}
    far = compare([-90.0, 500.0], np.zeros(2), np.array([0.1, 0.2]))
    assert far.answers[0].startswith("neither -90 nor 500 is plausible")


# ---------------------------------------------------------------- data

def test_parse_numbers_accepts_lines_commas_and_spaces() -> None:
    assert parse_numbers("1\n2.5, 3\t-4e1\n\n 5,6 ,7\n").tolist() == [1, 2.5, 3, -40, 5, 6, 7]


@pytest.mark.parametrize("text, message", [
    ("1\n2\nabc\n", "line 3: 'abc' is not a number"),
    ("1; 2; 3", "line 1: '1;' is not a number"),
    ("1\nnan\n", "line 2: 'nan' is not a finite number"),
    ("1, inf", "'inf' is not a finite number"),
    ("42\n", "found 1 number(s), need at least 2"),
    ("", "found 0 number(s)"),
    ("3 3 3", "all 3 numbers equal 3"),
])
def test_parse_numbers_rejects_with_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(DataError, match=None) as err:
        parse_numbers(text, source="f.txt")
    assert message in str(err.value) and str(err.value).startswith("f.txt")


def test_read_numbers_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        read_numbers(tmp_path / "missing.txt")
    with pytest.raises(DataError, match="is a directory"):
        read_numbers(tmp_path)
    (tmp_path / "bin.dat").write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(DataError, match="not a UTF-8 text file"):
        read_numbers(tmp_path / "bin.dat")


def test_draw_numbers_is_seeded_and_validated() -> None:
    np.testing.assert_array_equal(draw_numbers(16, 5, 50, 0), draw_numbers(16, 5, 50, 0))
    assert not np.array_equal(draw_numbers(16, 5, 50, 0), draw_numbers(16, 5, 50, 1))
    for args in [(16, 0, 50), (16, -1, 50), (16, 5, 1), (math.nan, 5, 50)]:
        with pytest.raises(UserError):
            draw_numbers(*args)


# ---------------------------------------------------------------- training

@pytest.fixture(scope="module")
def default_run():
    """The issue's acceptance run: 50 numbers from N(16, 5), seed 0, non-saturating, default steps."""
    return train_toy(draw_numbers(16, 5, 50, seed=0), loss="non-saturating", seed=0)


@pytest.mark.slow
def test_default_run_learns_mean_and_std(default_run) -> None:
    r = default_run
    assert abs(r.generated_summary.mean - r.data_summary.mean) < 0.5
    assert abs(r.generated_summary.std - r.data_summary.std) < 0.6
    assert r.ks.statistic < 0.15
    assert not r.mode_collapsed and collapse_message(r) is None
    assert r.generated.shape == (ToyConfig().eval_samples,)


@pytest.mark.slow
def test_default_run_says_15_is_more_likely_than_24(default_run) -> None:
    c = default_run.compare([24, 15])
    assert c.ranking == [15.0, 24.0]
    assert c.answers[0].startswith("15 is more likely than 24")
    # Near equilibrium D cannot tell G from the data: D(x) close to 1/2 where the data live.
    assert all(abs(v.discriminator - 0.5) < 0.15 for v in c.values)


def test_history_and_frames_are_kept() -> None:
    r = train_toy(draw_numbers(16, 5, 50, 0), steps=30, frame_every=10,
                  config=ToyConfig(log_every=10, eval_samples=500, frame_samples=100, grid_points=50))
    assert r.history.step == [10, 20, 30]
    assert all(math.isfinite(v) for v in r.history.d_loss + r.history.g_loss)
    assert [f.step for f in r.frames] == [0, 10, 20, 30]
    assert r.frames[0].samples.shape == (100,) and r.frames[0].d_curve.shape == (50,)
    assert np.all((r.frames[-1].d_curve > 0) & (r.frames[-1].d_curve < 1))


def test_training_is_deterministic_and_restores_threads() -> None:
    threads = torch.get_num_threads()
    data = draw_numbers(16, 5, 50, 0)
    cfg = ToyConfig(eval_samples=1000)
    a = train_toy(data, steps=40, seed=3, config=cfg)
    b = train_toy(data, steps=40, seed=3, config=cfg)
    c = train_toy(data, steps=40, seed=4, config=cfg)
    np.testing.assert_array_equal(a.generated, b.generated)
    assert not np.array_equal(a.generated, c.generated)
    assert torch.get_num_threads() == threads


def test_standardisation_makes_training_scale_free() -> None:
    # N(1000, 200) is N(16, 5) in other units: same standardised data, same run, results in data units.
    unit = draw_numbers(0, 1, 50, 0)
    cfg = ToyConfig(eval_samples=1000)
    small = train_toy(16 + 5 * unit, steps=60, config=cfg)
    large = train_toy(1000 + 200 * unit, steps=60, config=cfg)
    np.testing.assert_allclose((large.generated - 1000) / 200, (small.generated - 16) / 5, atol=1e-4)
    np.testing.assert_allclose(large.discriminate([1000, 1200]), small.discriminate([16, 21]), atol=1e-5)


@pytest.mark.parametrize("loss", ["minimax", "wgan-gp"])
def test_other_losses_move_g_towards_the_data(loss: str) -> None:
    data = draw_numbers(16, 5, 50, 0)
    r = train_toy(data, loss=loss, steps=150, config=ToyConfig(eval_samples=2000))
    assert r.loss == loss and r.probability == (loss != "wgan-gp")
    # G starts as a narrow blob (std ~ 0.3); within 150 steps it spreads towards the data's 4.6.
    assert r.history.gen_std[0] < 0.5 and 1.2 < r.generated_summary.std < 4.6
    assert abs(r.generated_summary.mean - r.data_summary.mean) < 1.0


def test_train_toy_rejects_bad_arguments() -> None:
    data = draw_numbers(16, 5, 50, 0)
    with pytest.raises(UserError, match="unknown loss"):
        train_toy(data, loss="hinge")
    with pytest.raises(UserError, match="steps must be >= 1"):
        train_toy(data, steps=0)
    with pytest.raises(UserError, match="need at least 2"):
        train_toy(np.array([1.0]))
    with pytest.raises(UserError, match="non-finite"):
        train_toy(np.array([1.0, np.inf, 2.0]))
    with pytest.raises(UserError, match="ema must be"):
        train_toy(data, config=ToyConfig(ema=1.0))


def test_report_explains_mode_collapse() -> None:
    run = train_toy(draw_numbers(16, 5, 50, 0), steps=5, config=ToyConfig(eval_samples=500))
    collapsed = dataclasses.replace(run,
                                    generated_summary=dataclasses.replace(run.generated_summary, std=0.2))
    message = collapse_message(collapsed)
    assert message is not None and message.startswith("Mode collapse:") and "\n" not in message
    assert message in report_text(collapsed)
    assert report_dict(collapsed)["mode_collapse"] == {"collapsed": True, "message": message}


# ---------------------------------------------------------------- plots

def test_plot_and_animation_files(tmp_path: Path) -> None:
    import imageio.v3 as iio

    from progan.toy.plots import animate_result, plot_result

    r = train_toy(draw_numbers(16, 5, 50, 0), steps=20, frame_every=10,
                  config=ToyConfig(eval_samples=500, frame_samples=200))
    png = plot_result(r, tmp_path / "toy.png")
    assert iio.imread(png).shape[:2] == (450, 800)
    gif = animate_result(r, tmp_path / "toy.gif", dpi=40)
    frames = iio.imread(gif, index=None)
    assert frames.shape[0] == 3 and frames.shape[1:3] == (180, 320)
    with pytest.raises(UserError, match="does not exist"):
        plot_result(r, tmp_path / "no" / "toy.png")


# ---------------------------------------------------------------- CLI

def test_cli_constants_match_the_library() -> None:
    from progan.cli import toy as cli_toy
    from progan.toy import LOSSES

    assert cli_toy.LOSS_NAMES == tuple(LOSSES)
    assert cli_toy.DEFAULT_STEPS == {name: loss.default_steps for name, loss in LOSSES.items()}


def _cli(args: list[str], capsys) -> tuple[int, str, str]:
    try:
        main(["toy", *args])
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("content, args, message", [
    (None, ["--numbers", "{tmp}/missing.txt"], "no such file"),
    ("12\n15\nabc\n", ["--numbers", "{file}"], "line 3: 'abc' is not a number"),
    ("12\n", ["--numbers", "{file}"], "need at least 2"),
    ("12\nnan\n", ["--numbers", "{file}"], "not a finite number"),
    ("1 2 3", ["--numbers", "{file}", "--mean", "3"], "either --numbers FILE or --mean"),
    (None, ["--std", "0"], "--std must be a finite number > 0"),
    (None, ["--std", "-2"], "--std must be a finite number > 0"),
    (None, ["--count", "1"], "--count must be >= 2"),
    (None, ["--steps", "0"], "--steps must be >= 1"),
    (None, ["--compare", "15", "nan"], "must be finite"),
    (None, ["24"], "values to compare follow --compare"),
    (None, ["--compare", "1", "--bogus"], "no such option '--bogus'"),
    (None, ["--compare", "1", "two"], "no such argument 'two'"),
    (None, ["--animate", "{tmp}/out.mp4"], "ending in .gif"),
    (None, ["--plot", "{tmp}/nodir/out.png"], "does not exist"),
    (None, ["--loss", "hinge"], "Invalid value for '--loss'"),
    (None, ["--count", "many"], "'many' is not a valid integer"),
])
def test_cli_bad_input_is_one_line_exit_2(tmp_path: Path, capsys, content, args, message) -> None:
    file = tmp_path / "numbers.txt"
    if content is not None:
        file.write_text(content)
    args = [a.format(tmp=tmp_path, file=file) for a in args]
    code, out, err = _cli(args, capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("progan") and message in err


def test_cli_bad_file_via_subprocess(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("16, 17, eighteen\n")
    p = subprocess.run([sys.executable, "-m", "progan", "toy", "--numbers", str(bad)],
                       check=False, capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr == f"progan: error: {bad}, line 1: 'eighteen' is not a number " \
                       "(write numbers one per line or separated by commas or spaces)\n"


def test_cli_json_is_one_object_with_all_sections(tmp_path: Path, capsys) -> None:
    numbers = tmp_path / "n.txt"
    numbers.write_text("\n".join(str(v) for v in draw_numbers(1000, 200, 40, 1)))
    code, out, err = _cli(["--numbers", str(numbers), "--steps", "100", "--seed", "2", "--json",
                           "--compare", "1000", "-1600", "--plot", str(tmp_path / "p.png"),
                           "--animate", str(tmp_path / "a.gif"), "--frames", "3"], capsys)
    assert code == 0 and err == ""
    report = json.loads(out)  # exactly one object: json.loads rejects trailing content
    assert set(report) >= {"settings", "data", "generated", "ks", "compare", "mode_collapse"}
    assert report["settings"]["steps"] == 100 and report["settings"]["seed"] == 2
    assert report["settings"]["data_source"] == {"kind": "file", "path": str(numbers)}
    assert report["data"]["count"] == 40
    assert set(report["generated"]["quantiles"]) == {"p5", "p25", "p50", "p75", "p95"}
    assert 0 <= report["ks"]["statistic"] <= 1
    assert report["compare"]["ranking"] == [1000.0, -1600.0]
    assert (tmp_path / "p.png").stat().st_size > 0 and (tmp_path / "a.gif").stat().st_size > 0


@pytest.mark.slow
def test_cli_default_compare_15_24(default_run, monkeypatch, capsys) -> None:
    # The CLI's defaults must produce exactly the library's acceptance run; reuse it instead of training
    # again.
    import progan.toy.train

    def same_run(data, *, loss, steps, seed, frame_every):
        np.testing.assert_array_equal(data, default_run.data)
        assert (loss, steps, seed, frame_every) == ("non-saturating", 2000, 0, 0)
        return default_run

    monkeypatch.setattr(progan.toy.train, "train_toy", same_run)
    code, out, err = _cli(["--compare", "15", "24"], capsys)
    assert code == 0 and err == ""
    assert out.splitlines()[0].startswith(
        "Trained G and D on 50 numbers: non-saturating loss, 2000 steps, seed 0")
    assert "\n15 is more likely than 24: G's density" in out


def test_package_exports_resolve() -> None:
    from progan import toy

    assert set(toy.__all__) == set(toy._MODULE_OF)
    assert all(getattr(toy, name) is not None for name in toy.__all__)
