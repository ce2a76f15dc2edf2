"""Make the golden files of progan's import tests by running the authors' own TensorFlow release.

Karras et al.'s TF release (github.com/tkarras/progressive_growing_of_gans, ``master``) is licensed
CC BY-NC and is NOT part of progan: this script imports it from a checkout given on the command line,
runs its ``networks.py`` (``G_paper`` / ``D_paper``), ``tfutil.py`` (``Network``, pickling),
``legacy.py`` (Theano-era import) and ``loss.py`` (``D_wgangp_acgan``), and writes only numbers:
network pickles in the release's own format and the outputs of the release's networks. The
pickled ``build_module_src`` (the full text of ``networks.py`` in the release's pickles) is replaced
by a one-line placeholder, so no part of the authors' code is written.

Needs TensorFlow (any 2.x from PyPI, run through ``tf.compat.v1`` on the CPU) in an environment of
its own; neither the tests nor the package import this file. Run it from the repository root::

    python3 -m venv /tmp/tfenv && /tmp/tfenv/bin/pip install tensorflow-cpu==2.15.1
    git clone https://github.com/tkarras/progressive_growing_of_gans /tmp/pggan   # or any export of it
    /tmp/tfenv/bin/python tools/tf_reference/make_golden.py /tmp/pggan tests/importers/golden

(TF 2.15 brings numpy 1.26, so the arrays are pickled under ``numpy.core.multiarray`` names, as in
the authors' ``karras2018iclr-*.pkl`` files.) The release's convolutions and pooling are NCHW,
which TensorFlow's CPU kernels refuse; a shim below transposes to NHWC around those three ops.

Written to the output folder, per network ``<name>`` of ``CONFIGS``:

``<name>.pkl``
    ``(G, D, Gs)``: three ``tfutil.Network`` objects pickled by the release's ``__getstate__``
    (protocol 4, as its ``misc.save_pkl``): random weights, biases and the Gs average perturbed too.
``<name>.npz``
    ``latents`` [N, latent_size], ``labels`` [N, label_size] (one-hot rows; [N, 0] when
    unconditional), ``lods`` (the lods evaluated) and, per lod ``L`` (formatted with ``%g``):
    ``gs_images_lod<L>`` Gs's output at the working resolution ``resolution >> floor(L)`` (the
    release's full-resolution output, which is checked to be nearest-upscaled, subsampled);
    ``d_scores_lod<L>`` [N] and ``d_labels_lod<L>`` [N, label_size]: D's outputs for Gs's
    full-resolution images; ``g_images_lod0`` [1, ...]: the instantaneous G at lod 0 for the
    first latent. N equals the
    minibatch-stddev group size (N = 4, or 2 for ``uncond64_options``), so the release's strided
    groups equal progan's contiguous ones.

For ``GP_NETWORK`` also, at lods 0, 1 and 1.5 (``L``): ``gp_reals_lod<L>`` (random working-
resolution reals), ``gp_fakes_lod<L>`` (Gs's output, working resolution), ``gp_mixing`` [N] (the
mixing factors of all lods), ``gp_mixed_norms_lod<L>`` [N]: the per-sample norm of the gradient of
sum(D(mixed)) with respect to the FULL-resolution mixed images, taken by the release's own
``loss.D_wgangp_acgan`` (its ``Loss/mixed_norms``, captured through ``tfutil.autosummary``) with
the reals and fakes nearest-upscaled to full resolution as ``train.process_reals`` and ``G_paper``
do, ``gp_mixed_scores_lod<L>`` [N] D's scores of those mixed images, and ``gp_r1_norms_lod<L>`` [N]:
the same norm for sum(D(reals)) with respect to the full-resolution reals (R1; not in the release,
computed with ``tf.gradients`` the same way).

``theano16.pkl`` / ``theano16.npz``: a pickle in the Theano release's format (class
``network.Network``, ``build_func_spec`` + ``param_values`` + ``toplevel_params``; protocol 2) with
random parameters laid out as the release's ``legacy.patch_theano_gan`` reads them, loaded back
through the release's ``legacy.LegacyUnpickler`` into TF networks, whose outputs are stored as
above. This checks progan's Theano import against the authors' converter, not against Theano.
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np

PLACEHOLDER_SRC = "# build_module_src removed: the TF release's networks.py (CC BY-NC) is not redistributed\n"
N = 4  # minibatch of the evaluations: the default minibatch-stddev group size

# name -> (kwargs for both networks, G-only kwargs, D-only kwargs, lods, lod stored in the pickle).
# Only what a release config would pass; everything else takes G_paper / D_paper defaults
# (fused_scale=True, mbstd_group_size=4, latent_size=nf(0), ...), as in the authors' pickles.
CONFIGS: dict[str, tuple[dict[str, Any], dict[str, Any], dict[str, Any], list[float], float]] = {
    "uncond32_fused": ({"num_channels": 3, "resolution": 32, "label_size": 0, "fmap_base": 32,
                        "fmap_max": 16},
                       {}, {}, [0.0, 0.5, 1.0, 1.7, 3.0], 0.0),
    "cond32_nonfused": ({"num_channels": 3, "resolution": 32, "label_size": 5, "fmap_base": 32,
                         "fmap_max": 16, "fused_scale": False},
                        {"latent_size": 12}, {}, [0.0, 0.5, 1.0, 1.7, 2.25], 1.0),
    "cond64_fused": ({"num_channels": 1, "resolution": 64, "label_size": 3, "fmap_base": 64, "fmap_max": 8},
                     {"latent_size": 8}, {}, [0.0, 0.5, 1.0, 1.7, 3.5], 0.0),
    "uncond64_options": ({"num_channels": 1, "resolution": 64, "label_size": 0, "fmap_base": 48,
                          "fmap_max": 8, "fmap_decay": 0.75, "use_wscale": False, "fused_scale": False},
                         {"normalize_latents": False, "use_pixelnorm": False}, {"mbstd_group_size": 2},
                         [0.0, 0.5, 1.0, 1.7], 0.0),
}
GP_NETWORK = "uncond32_fused"
GP_LODS = [0.0, 1.0, 1.5]
THEANO_LODS = [0.0, 0.5, 1.0, 2.0]
THEANO_LATENT = 8


def install_tf_shim() -> Any:
    """Make ``import tensorflow`` give ``tf.compat.v1`` whose NCHW conv / transposed conv / average
    pool run as NHWC (TensorFlow's CPU kernels support only NHWC for these)."""
    import tensorflow as tf2

    tf1 = tf2.compat.v1
    tf1.disable_v2_behavior()
    to_nhwc, to_nchw = [0, 2, 3, 1], [0, 3, 1, 2]

    def nhwc(v: Any) -> list[Any]:  # an NCHW strides / ksize / shape list in NHWC order
        return [v[0], v[2], v[3], v[1]]

    def conv2d(x: Any, w: Any, strides: Any, padding: Any, data_format: str = "NHWC", **kw: Any) -> Any:
        if data_format != "NCHW":
            return tf1.nn.conv2d(x, w, strides=strides, padding=padding, data_format=data_format, **kw)
        y = tf1.nn.conv2d(tf1.transpose(x, to_nhwc), w, strides=nhwc(strides), padding=padding, **kw)
        return tf1.transpose(y, to_nchw)

    def conv2d_transpose(x: Any, w: Any, output_shape: Any, strides: Any, padding: str = "SAME",
                         data_format: str = "NHWC", **kw: Any) -> Any:
        if data_format != "NCHW":
            return tf1.nn.conv2d_transpose(x, w, output_shape, strides=strides, padding=padding,
                                           data_format=data_format, **kw)
        y = tf1.nn.conv2d_transpose(tf1.transpose(x, to_nhwc), w, tf1.stack(nhwc(output_shape)),
                                    strides=nhwc(strides), padding=padding, **kw)
        return tf1.transpose(y, to_nchw)

    def avg_pool(x: Any, ksize: Any, strides: Any, padding: Any, data_format: str = "NHWC", **kw: Any) -> Any:
        if data_format != "NCHW":
            return tf1.nn.avg_pool(x, ksize=ksize, strides=strides, padding=padding, data_format=data_format,
                                   **kw)
        y = tf1.nn.avg_pool(tf1.transpose(x, to_nhwc), ksize=nhwc(ksize), strides=nhwc(strides),
                            padding=padding, **kw)
        return tf1.transpose(y, to_nchw)

    nn = types.ModuleType("tensorflow.nn")
    nn.__getattr__ = lambda name: getattr(tf1.nn, name)  # type: ignore[method-assign]
    nn.conv2d, nn.conv2d_transpose, nn.avg_pool = conv2d, conv2d_transpose, avg_pool  # type: ignore[attr-defined]
    proxy = types.ModuleType("tensorflow")
    proxy.__getattr__ = lambda name: getattr(tf1, name)  # type: ignore[method-assign]
    proxy.nn = nn  # type: ignore[attr-defined]
    sys.modules["tensorflow"] = proxy
    return proxy


def nearest_up(x: np.ndarray, factor: int) -> np.ndarray:
    return x.repeat(factor, axis=2).repeat(factor, axis=3)


def working_resolution(full: np.ndarray, factor: int) -> np.ndarray:
    """The release's full-resolution output at a lod, back at the working resolution (exact)."""
    small = full[:, :, ::factor, ::factor]
    if not np.array_equal(nearest_up(small, factor), full):
        raise AssertionError("the release's output is not nearest-upscaled by 2**floor(lod)")
    return np.ascontiguousarray(small)


class Runner:
    """The release's modules, a session, and helpers to evaluate its networks on NumPy inputs."""

    def __init__(self, release: Path) -> None:
        self.tf = install_tf_shim()
        sys.path.insert(0, str(release))
        import legacy  # also registers the Theano import handlers with tfutil
        import loss
        import tfutil

        self.tfutil, self.loss, self.legacy = tfutil, loss, legacy
        tfutil.init_tf({"graph_options.place_pruned_graph": True})

    def run(self, *args: Any, **kw: Any) -> Any:
        return self.tfutil.run(*args, **kw)

    def randomize(self, net: Any, rng: np.random.RandomState, bias_std: float = 0.5) -> None:
        """Non-trivial weights: the release's own N(0, 1) draws are replaced, and biases are nonzero."""
        values = {}
        for name, var in net.trainables.items():
            shape = var.shape.as_list()
            std = bias_std if name.endswith("/bias") else 1.0
            if not net.static_kwargs.get("use_wscale", True) and name.endswith("/weight"):
                std = np.sqrt(2.0 / np.prod(shape[:-1]))  # He init, as get_weight without wscale
            values[var] = (rng.standard_normal(shape) * std).astype(np.float32)
        self.tfutil.set_vars(values)

    def outputs(self, Gs: Any, D: Any, latents: np.ndarray, labels: np.ndarray, lods: list[float],
                resolution: int, G: Any | None = None) -> dict[str, np.ndarray]:
        tf = self.tf
        lat = tf.constant(latents)
        lab = tf.constant(labels)
        images = Gs.get_output_for(lat, lab)
        img_in = tf.placeholder(tf.float32, [len(latents), images.shape[1].value, resolution, resolution])
        scores, dlabels = D.get_output_for(img_in)
        out: dict[str, np.ndarray] = {"latents": latents, "labels": labels,
                                      "lods": np.array(lods, np.float32)}
        for lod in lods:
            Gs.set_var("lod", np.float32(lod))
            D.set_var("lod", np.float32(lod))
            full = self.run(images)
            s, lg = self.run([scores, dlabels], {img_in: full})
            out[f"gs_images_lod{lod:g}"] = working_resolution(full, 2 ** int(np.floor(lod)))
            out[f"d_scores_lod{lod:g}"] = s[:, 0]
            out[f"d_labels_lod{lod:g}"] = lg
        if G is not None:  # the instantaneous G, first sample only (G has no batch interaction)
            G.set_var("lod", np.float32(0.0))
            out["g_images_lod0"] = self.run(G.get_output_for(lat[:1], lab[:1]))
        return out

    def penalty_norms(self, Gs: Any, D: Any, latents: np.ndarray, rng: np.random.RandomState,
                      resolution: int) -> dict[str, np.ndarray]:
        """Gradient norms of the release's WGAN-GP (its loss.py) and of R1, w.r.t. full-size images."""
        tf, tfutil = self.tf, self.tfutil
        channels = Gs.output_shape[1]
        mixing = rng.uniform(0.0, 1.0, N).astype(np.float32)
        out: dict[str, np.ndarray] = {"gp_mixing": mixing}
        fakes_expr = Gs.get_output_for(tf.constant(latents), tf.zeros([N, 0]))
        for lod in GP_LODS:
            factor = 2 ** int(np.floor(lod))
            Gs.set_var("lod", np.float32(lod))
            D.set_var("lod", np.float32(lod))
            fakes = working_resolution(self.run(fakes_expr), factor)
            r = resolution // factor
            reals = rng.uniform(-1.0, 1.0, (N, channels, r, r)).astype(np.float32)
            captured: dict[str, Any] = {}

            def autosummary(name: str, value: Any, captured: dict[str, Any] = captured) -> Any:
                captured[name] = value
                return value

            full_fakes = tf.constant(nearest_up(fakes, factor))  # as G_paper gives them: full size
            fixed_g = types.SimpleNamespace(input_shapes=[[None, latents.shape[1]]],
                                            get_output_for=lambda *a, _out=full_fakes, **k: _out)
            no_scaling = types.SimpleNamespace(apply_loss_scaling=lambda v: v, undo_loss_scaling=lambda v: v)

            saved = tfutil.autosummary
            tfutil.autosummary = autosummary
            tf.random_uniform = lambda *a, **k: tf.constant(mixing.reshape(N, 1, 1, 1))
            try:
                reals_full = tf.constant(nearest_up(reals, factor))
                self.loss.D_wgangp_acgan(fixed_g, D, no_scaling, None, N, reals_full, tf.zeros([N, 0]))
            finally:
                tfutil.autosummary = saved
                del tf.random_uniform
            real_scores = D.get_output_for(reals_full)[0]
            r1 = tf.sqrt(tf.reduce_sum(tf.square(tf.gradients(tf.reduce_sum(real_scores), [reals_full])[0]),
                                       axis=[1, 2, 3]))
            norms, scores, r1_norms = self.run([captured["Loss/mixed_norms"], captured["Loss/mixed_scores"],
                                                r1])
            out[f"gp_reals_lod{lod:g}"] = reals
            out[f"gp_fakes_lod{lod:g}"] = fakes
            out[f"gp_mixed_norms_lod{lod:g}"] = norms
            out[f"gp_mixed_scores_lod{lod:g}"] = scores[:, 0]
            out[f"gp_r1_norms_lod{lod:g}"] = r1_norms
        return out


def save_release_pickle(path: Path, nets: tuple[Any, ...]) -> None:
    """Pickle as the release's misc.save_pkl, without the release's source text inside."""
    for net in nets:
        net._build_module_src = PLACEHOLDER_SRC
    with open(path, "wb") as f:
        pickle.dump(nets, f, protocol=4)
    with open(path, "rb") as f:
        if b"def G_paper" in f.read():
            raise AssertionError("the release's source text leaked into the pickle")


def make_tf_release_networks(runner: Runner, out: Path) -> None:
    tfutil = runner.tfutil
    for index, (name, (both, g_only, d_only, lods, stored_lod)) in enumerate(CONFIGS.items()):
        rng = np.random.RandomState(1000 + index)
        G = tfutil.Network(f"G_{name}", func="networks.G_paper", **both, **g_only)
        D = tfutil.Network(f"D_{name}", func="networks.D_paper", **both, **d_only)
        Gs = G.clone(f"Gs_{name}")
        runner.randomize(G, rng)
        runner.randomize(D, rng)
        # Gs = G + a small difference, as a moving average would be.
        tfutil.set_vars({Gs.vars[k]: v + 0.05 * rng.standard_normal(v.shape).astype(np.float32)
                         for k, v in zip(G.trainables, runner.run(list(G.trainables.values())))})
        for net in (G, D, Gs):
            net.set_var("lod", np.float32(stored_lod))
        for net in (G, D, Gs):
            net.name = net.name.split("_")[0]  # the release's pickles hold the names 'G', 'D', 'Gs'
        save_release_pickle(out / f"{name}.pkl", (G, D, Gs))

        group = d_only.get("mbstd_group_size", 4)
        batch = N if group in (0, 1, N) else group  # one group: the release's strided groups = progan's
        latent_size = G.input_shapes[0][1]
        latents = rng.standard_normal((batch, latent_size)).astype(np.float32)
        if both["label_size"]:
            labels = np.eye(both["label_size"], dtype=np.float32)[rng.randint(0, both["label_size"], batch)]
        else:
            labels = np.zeros((batch, 0), np.float32)
        arrays = runner.outputs(Gs, D, latents, labels, lods, both["resolution"], G=G)
        if name == GP_NETWORK:
            arrays.update(runner.penalty_norms(Gs, D, latents, rng, both["resolution"]))
        np.savez(out / f"{name}.npz", **arrays)
        print(f"{name}: {len(G.trainables)} + {len(D.trainables)} variables, lods {lods}")


class TheanoNetwork:
    """Stand-in pickled under the Theano release's class name ``network.Network``."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.state = state

    def __getstate__(self) -> dict[str, Any]:
        return self.state


class Python2StylePickler(pickle.Pickler):
    """Arrays as Python 2's cPickle wrote them: raw data and type code as ``str``, which Python 3
    reads back (``encoding='latin1'``) as text, never as bytes."""

    def reducer_override(self, obj: Any) -> Any:
        if type(obj) is not np.ndarray:
            return NotImplemented
        state = (1, obj.shape, obj.dtype, False, obj.tobytes().decode("latin1"))
        return np.core.multiarray._reconstruct, (np.ndarray, (0,), "b"), state


def theano_states(rng: np.random.RandomState) -> tuple[dict[str, Any], dict[str, Any]]:
    """Random Theano-era G and D states, parameters in the order and layout legacy.py reads:
    Lasagne conv weights [out, in, kh, kw], NIN / dense weights [in, out], and per equalized layer
    [weight, scale, bias]."""
    C, R, latent, log2 = 1, 16, THEANO_LATENT, 4
    def nf(stage: int) -> int:
        return min(int(32 / 2.0 ** stage), 16)

    common = {"num_channels": C, "resolution": R, "label_size": 0, "fmap_base": 32, "fmap_decay": 1.0,
              "fmap_max": 16, "use_wscale": True}

    def layer(shape: tuple[int, ...]) -> list[np.ndarray]:
        w = rng.standard_normal(shape).astype(np.float32)
        scale = np.array(rng.uniform(0.05, 0.5), np.float32)
        bias = rng.standard_normal(shape[0] if len(shape) == 4 else shape[1]) * 0.5
        return [w, scale, bias.astype(np.float32)]

    g: list[np.ndarray] = layer((nf(1), latent, 4, 4)) + layer((nf(1), nf(1), 3, 3))
    for res in range(3, log2 + 1):
        g += layer((nf(res - 1), nf(res - 2), 3, 3)) + layer((nf(res - 1), nf(res - 1), 3, 3))
    for res in range(log2, 1, -1):
        g += layer((nf(res - 1), C))
    d: list[np.ndarray] = layer((C, nf(log2 - 1)))
    for res in range(log2, 2, -1):
        d += (layer((nf(res - 1), nf(res - 1), 3, 3)) + layer((nf(res - 2), nf(res - 1), 3, 3))
              + layer((C, nf(res - 2))))
    d += layer((nf(1), nf(1) + 1, 3, 3)) + layer((nf(0), nf(1), 4, 4)) + layer((nf(0), 1))
    lod = np.array(0.0, np.float32)
    g_spec = {"func": "G_paper", "latent_size": latent, "normalize_latents": True, "use_pixelnorm": True,
              "use_leakyrelu": True, "use_batchnorm": False, "tanh_at_end": None, **common}
    d_spec = {"func": "D_paper", "mbstat_func": "Tstdeps", "mbstat_avg": "all", "mbdisc_kernels": None,
              "use_gdrop": False, "use_layernorm": False, **common}
    g_state = {"build_func_spec": g_spec,
               "build_module_src": PLACEHOLDER_SRC, "param_values": g, "toplevel_params": {"cur_lod": lod}}
    d_state = {"build_func_spec": d_spec,
               "build_module_src": PLACEHOLDER_SRC, "param_values": d,
               "toplevel_params": {"cur_lod": lod, "gdrop_strength": np.array(0.0, np.float32)}}
    return g_state, d_state


def make_theano_network(runner: Runner, out: Path) -> None:
    rng = np.random.RandomState(77)
    g_state, d_state = theano_states(rng)
    gs_state = {**g_state,
                "param_values": [p + np.float32(0.02) * rng.standard_normal(p.shape).astype(np.float32)
                                 if p.ndim else p for p in g_state["param_values"]]}
    module = types.ModuleType("network")
    module.Network = TheanoNetwork  # type: ignore[attr-defined]
    TheanoNetwork.__module__, TheanoNetwork.__qualname__ = "network", "Network"
    sys.modules["network"] = module
    path = out / "theano16.pkl"
    with open(path, "wb") as f:
        Python2StylePickler(f, protocol=2).dump(tuple(TheanoNetwork(s) for s in (g_state, d_state, gs_state)))
    with open(path, "rb") as f:  # the release's own loader: LegacyUnpickler + patch_theano_gan
        G, D, Gs = runner.legacy.LegacyUnpickler(f, encoding="latin1").load()
    latents = rng.standard_normal((N, THEANO_LATENT)).astype(np.float32)
    arrays = runner.outputs(Gs, D, latents, np.zeros((N, 0), np.float32), THEANO_LODS, 16, G=G)
    np.savez(out / "theano16.npz", **arrays)
    print(f"theano16: {len(G.trainables)} + {len(D.trainables)} variables after the release's conversion")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("release", type=Path,
                        help="checkout or export of tkarras/progressive_growing_of_gans")
    parser.add_argument("outdir", type=Path, help="folder for the golden files (e.g. tests/importers/golden)")
    args = parser.parse_args()
    if not (args.release / "networks.py").is_file() or not (args.release / "tfutil.py").is_file():
        parser.error(f"{args.release} has no networks.py / tfutil.py of the TF release")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args.outdir.mkdir(parents=True, exist_ok=True)
    runner = Runner(args.release.resolve())
    make_tf_release_networks(runner, args.outdir)
    make_theano_network(runner, args.outdir)


if __name__ == "__main__":
    main()
