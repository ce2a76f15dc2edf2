"""The explorer's page, built with Gradio (``gr.Blocks``): one tab per job, every button bound to a function
of :mod:`progan.explore.actions`, errors shown on the page as one line.

The server keeps little per browser tab (``gr.State``: the frames of the last interpolation, what the training
view last showed); every request names its snapshot, so two tabs can look at two snapshots.
"""

from __future__ import annotations

import functools
import html
import logging
import shutil
from collections.abc import Callable
from typing import Any, TypeVar

import gradio as gr

from progan.errors import UserError
from progan.explore import actions, training_view
from progan.explore.networks import NetworkCache, NetworkInfo
from progan.explore.source import NEWEST, RunSource
from progan.explore.uploads import read_mask, read_target

__all__ = ["CSS", "build_app", "theme"]

log = logging.getLogger("progan.explore")
F = TypeVar("F", bound=Callable[..., Any])

CSS = """
.pixels img {
  image-rendering: pixelated; width: 100% !important; height: 100% !important; object-fit: contain;
}
#header h2 { margin: 0.2em 0; }
footer { display: none !important; }
"""
REFRESH_S = 5.0
# Marks a handler's progress parameter; Gradio gives every call a tracker of its own that follows the
# library's tqdm bars (projection steps, video frames).
TQDM_PROGRESS = gr.Progress(track_tqdm=True)


def theme() -> gr.themes.Base:
    # The default theme's fonts are bundled with Gradio: nothing is fetched from outside.
    return gr.themes.Default(primary_hue="indigo", secondary_hue="slate", radius_size="sm")


def _on_page(fn: F) -> F:
    """Errors become one line on the page (gr.Error) instead of a broken request; the server goes on."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except UserError as e:
            raise gr.Error(" ".join(str(e).split()), print_exception=False) from None
        except Exception as e:  # a broken snapshot or a bug: say so, keep serving
            log.exception("explore: %s failed", fn.__name__)
            message = f"{type(e).__name__}: {' '.join(str(e).split())[:300]}"
            raise gr.Error(message, print_exception=False) from None

    return wrapper  # type: ignore[return-value]


def _truncation(value: float | None) -> float | None:
    return float(value) if value else None


def _class(value: Any, info: NetworkInfo) -> int | None:
    if not info.num_classes:
        return None
    if value is None or value == "":
        raise UserError(f"this network is conditional on {info.num_classes} classes: pick a class")
    c = int(value)
    if not 0 <= c < info.num_classes:
        raise UserError(f"class {c} is out of range 0..{info.num_classes - 1}")
    return c


def _seed(value: Any, what: str) -> int:
    from progan.sampling.latents import parse_seeds

    text = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value).strip()
    seeds = parse_seeds(text)
    if len(seeds) != 1:
        raise UserError(f"{what}: give one seed")
    return seeds[0]


def _seed_list(text: str, what: str) -> list[int]:
    from progan.sampling.latents import parse_seeds

    if not str(text).strip():
        return []
    try:
        return parse_seeds(str(text).strip())
    except UserError as e:
        raise UserError(f"{what}: {e}" if what else str(e)) from None


def _class_choices(info: NetworkInfo | None) -> list[tuple[str, int]]:
    if info is None or not info.num_classes:
        return []
    return [(f"{i}: {name}" if name != str(i) else name, i) for i, name in enumerate(info.class_names)]


def _class_dropdown() -> gr.Dropdown:
    # Filled in by describe() when the page loads: the page is built before torch and the network are.
    return gr.Dropdown(choices=[], value=None, label="Class", visible=False, interactive=True)


def _class_update(info: NetworkInfo | None) -> dict[str, Any]:
    choices = _class_choices(info)
    return gr.update(choices=choices, value=choices[0][1] if choices else None, visible=bool(choices))


def _truncation_slider() -> gr.Slider:
    return gr.Slider(0.0, 3.0, value=0.0, step=0.05, label="Truncation (0 = off)",
                     info="BigGAN's truncation trick: latent entries beyond the threshold are redrawn")


def _image(label: str, elem_id: str | None = None, height: int = 384) -> gr.Image:
    return gr.Image(label=label, type="filepath", format="png", interactive=False, height=height,
                    elem_id=elem_id, elem_classes="pixels", buttons=["download", "fullscreen"])


def _plot(title: str) -> gr.LinePlot:
    return gr.LinePlot(x="kimg", y="value", color="series", title=title, height=230, x_title="kimg",
                       y_title=" ", color_title=" ", label=title, show_label=False)


def _snapshot_choices(source: RunSource) -> list[tuple[str, str]]:
    names = source.snapshot_names()
    if not names:
        return [("newest (none yet)", NEWEST)]
    return [(f"newest ({names[0]})", NEWEST)] + [(n, n) for n in names]


def build_app(source: RunSource, cache: NetworkCache, workdir: actions.Workdir, *,
              max_upload_bytes: int) -> gr.Blocks:
    """The page for ``source``; ``cache`` loads its generators and ``workdir`` receives every written file.

    Nothing here loads a generator: the controls that depend on it (classes, standing statistics) are set
    by ``describe`` when a page loads or the snapshot changes.
    """

    def network(snapshot: str, variant: str, standing: float,
                truncation: float | None = None) -> tuple[Any, NetworkInfo]:
        return cache.get(snapshot, ema=variant != "G", standing_batches=int(standing or 0),
                         truncation=truncation)

    def describe(snapshot: str, variant: str) -> tuple[Any, ...]:
        """The network's summary, then the class menus (one per tab) and the standing-statistics slider."""
        try:
            info: NetworkInfo | None = network(snapshot, variant, 0)[1]
        except UserError as e:  # no snapshot yet: the training view still works
            info, text = None, " ".join(str(e).split())
        else:
            assert info is not None
            text = info.summary()
        classes = _class_update(info)
        return (text, classes, classes, classes, classes,
                gr.update(visible=bool(info and info.has_batchnorm)))

    @_on_page
    def generate(seeds_text: str, class_: Any, truncation: float, snapshot: str, variant: str,
                 standing: float) -> tuple[str, str]:
        seeds = _seed_list(seeds_text, "")
        if not seeds:
            raise UserError("give a seed, or seeds such as 0-15 for a grid")
        t = _truncation(truncation)
        G, info = network(snapshot, variant, standing, t)
        path = actions.generate_image(G, seeds, workdir.new("generate"), class_=_class(class_, info),
                                      truncation=t)
        what = f"seed {seeds[0]}" if len(seeds) == 1 else f"{len(seeds)} seeds"
        return str(path), f"{what}, {info.resolution}x{info.resolution}, {variant} of `{info.path.name}`"

    @_on_page
    def interpolate(seed_a: float, seed_b: float, class_: Any, mode: str, frames: float, truncation: float,
                    snapshot: str, variant: str, standing: float) -> tuple[str, dict[str, Any], list[str]]:
        t = _truncation(truncation)
        G, info = network(snapshot, variant, standing, t)
        paths = actions.interpolation_frames(
            G, (_seed(seed_a, "seed A"), _seed(seed_b, "seed B")), int(frames), workdir.new("interpolate"),
            mode=mode, class_=_class(class_, info), truncation=t)
        slider = gr.update(maximum=len(paths) - 1, value=0)
        return str(paths[0]), slider, [str(p) for p in paths]

    @_on_page
    def interpolation_frame(index: float, frames: list[str] | None) -> str:
        if not frames:
            raise UserError("render an interpolation first")
        return frames[max(0, min(int(index), len(frames) - 1))]

    @_on_page
    def export(seed_a: float, seed_b: float, class_: Any, mode: str, frames: float, truncation: float,
               fmt: str, fps: float, snapshot: str, variant: str, standing: float,
               progress: gr.Progress = TQDM_PROGRESS) -> str:
        t = _truncation(truncation)
        G, info = network(snapshot, variant, standing, t)
        if fmt not in ("mp4", "gif"):
            raise UserError(f"export format must be mp4 or gif, got {fmt!r}")
        pair = (_seed(seed_a, "seed A"), _seed(seed_b, "seed B"))
        out = workdir.new("export") / f"interpolation-{pair[0]}-{pair[1]}.{fmt}"
        return str(actions.export_video(G, pair, int(frames), out, fps=float(fps), mode=mode,
                                        class_=_class(class_, info), truncation=t))

    @_on_page
    def arithmetic(base: str, plus: str, minus: str, class_: Any, truncation: float, snapshot: str,
                   variant: str, standing: float) -> tuple[str, str]:
        t = _truncation(truncation)
        G, info = network(snapshot, variant, standing, t)
        sheet, result = actions.arithmetic_sheet(
            G, workdir.new("arithmetic"), base=_seed_list(base, "base"), plus=_seed_list(plus, "plus"),
            minus=_seed_list(minus, "minus"), class_=_class(class_, info), truncation=t)
        return str(sheet), str(result)

    @_on_page
    def project(target_file: str | None, mask_file: str | None, class_: Any, steps: float, restarts: float,
                seed: float, snapshot: str, variant: str, standing: float,
                progress: gr.Progress = TQDM_PROGRESS) -> tuple[Any, ...]:
        from progan.sampling.project import ProjectConfig

        if not target_file:
            raise UserError("upload an image to project")
        G, info = network(snapshot, variant, standing)
        target = read_target(target_file, info.resolution, info.channels, max_bytes=max_upload_bytes)
        mask = read_mask(mask_file, info.resolution, max_bytes=max_upload_bytes) if mask_file else None
        cfg = ProjectConfig(steps=int(steps), restarts=int(restarts), seed=_seed(seed, "seed"))
        cfg.validate()
        files = actions.project_upload(G, target, workdir.new("project"), mask=mask,
                                       class_=_class(class_, info), config=cfg)
        where = " on the known pixels" if mask is not None else ""
        text = (f"PSNR **{files.psnr:.2f} dB**{where}, loss {files.loss:.5f}, {cfg.steps} steps x "
                f"{cfg.restarts} restarts in {files.seconds:.1f} s")
        blended = (gr.update(value=str(files.blended), visible=True) if files.blended
                   else gr.update(visible=False))
        return str(files.target), str(files.projected), blended, text, str(files.latent), str(files.video)

    def training(seen: Any) -> tuple[Any, ...]:
        """Training view outputs; everything is left as it is when no log, grid or snapshot changed."""
        fakes = source.latest_fakes()
        files = source.log_files() + ([fakes] if fakes else []) + source.snapshots()
        stamp = training_view.fingerprint(files)
        if seen == stamp:
            return (gr.skip(),) * 8
        shown = None
        if fakes is not None:  # a copy: the page is only ever given files the server wrote
            shown = workdir.new("fakes") / fakes.name
            shutil.copyfile(fakes, shown)
        tables = training_view.curves(source.run_dir)
        plots = [gr.update(value=tables[title]) for title in training_view.CURVES]
        choices = gr.update(choices=_snapshot_choices(source))
        return (stamp, training_view.summary(source.run_dir), None if shown is None else str(shown), *plots,
                choices)

    with gr.Blocks(title=f"progan explore: {source.root.name}", analytics_enabled=False) as demo:
        gr.Markdown(f"## progan explore &nbsp; <code>{html.escape(source.label or str(source.root))}</code>",
                    elem_id="header")
        with gr.Row(equal_height=True):
            snapshot = gr.Dropdown(choices=_snapshot_choices(source), value=NEWEST, label="Snapshot", scale=3)
            variant = gr.Radio(["G_ema", "G"], value="G_ema", label="Generator", scale=1,
                               info="G_ema: the averaged weights")
            standing = gr.Slider(0, 64, value=0, step=1, scale=2, label="Standing statistics (batches)",
                                 info="recompute batch-norm statistics for these weights (0 = off)",
                                 visible=False)
        info = gr.Markdown("loading the generator ...")
        net = [snapshot, variant, standing]

        with gr.Tabs():
            with gr.Tab("Generate"), gr.Row():
                with gr.Column(scale=1):
                    seeds = gr.Textbox(value="0", label="Seed(s)", elem_id="seeds",
                                       info="one seed, or a list such as 0-15 for a grid")
                    gen_class = _class_dropdown()
                    gen_trunc = _truncation_slider()
                    with gr.Row():
                        dice = gr.Button("Random seed", scale=1)
                        gen_btn = gr.Button("Generate", variant="primary", elem_id="generate-btn", scale=2)
                    gen_caption = gr.Markdown()
                with gr.Column(scale=2):
                    gen_image = _image("Image", elem_id="generate-image", height=480)

            with gr.Tab("Interpolate"), gr.Row():
                with gr.Column(scale=1):
                    with gr.Row():
                        seed_a = gr.Number(value=1, precision=0, minimum=0, label="Seed A")
                        seed_b = gr.Number(value=2, precision=0, minimum=0, label="Seed B")
                    int_class = _class_dropdown()
                    with gr.Row():
                        mode = gr.Radio(["slerp", "lerp"], value="slerp", label="Path")
                        frames = gr.Slider(2, 240, value=60, step=1, label="Frames")
                    int_trunc = _truncation_slider()
                    int_btn = gr.Button("Render", variant="primary")
                    with gr.Row():
                        fmt = gr.Radio(["mp4", "gif"], value="mp4", label="Export as")
                        fps = gr.Slider(1, 60, value=30, step=1, label="Frames per second")
                    exp_btn = gr.Button("Export video")
                    video_file = gr.File(label="Video", interactive=False, height=90)
                with gr.Column(scale=2):
                    frame_image = _image("Frame", height=440)
                    frame_slider = gr.Slider(0, 59, value=0, step=1, label="Frame")
                    frame_paths = gr.State([])

            with gr.Tab("Arithmetic"), gr.Row():
                with gr.Column(scale=1):
                    base = gr.Textbox(value="1-4", label="Base seeds")
                    plus = gr.Textbox(value="5-8", label="Plus seeds")
                    minus = gr.Textbox(value="9-12", label="Minus seeds (optional)")
                    ari_class = _class_dropdown()
                    ari_trunc = _truncation_slider()
                    ari_btn = gr.Button("mean(base) + mean(plus) - mean(minus)", variant="primary")
                with gr.Column(scale=2):
                    gr.Markdown("Each group's images and the image of its mean latent; "
                                "the last row is the result.")
                    ari_sheet = gr.Image(type="filepath", format="png", interactive=False, show_label=False,
                                         elem_classes="pixels", buttons=["download", "fullscreen"],
                                         height=500)
                with gr.Column(scale=1):
                    ari_result = _image("Result", height=240)

            with gr.Tab("Project"), gr.Row():
                with gr.Column(scale=1):
                    target_file = gr.File(label="Image to project", file_types=["image"], type="filepath",
                                          height=160)
                    mask_file = gr.File(label="Mask (optional): white = keep, black = fill in",
                                        file_types=["image"], type="filepath", height=160)
                    pro_class = _class_dropdown()
                    with gr.Row():
                        steps = gr.Slider(10, 2000, value=300, step=10, label="Steps")
                        restarts = gr.Slider(1, 16, value=4, step=1, label="Restarts")
                    pro_seed = gr.Number(value=0, precision=0, minimum=0,
                                         label="Seed of the starting latents")
                    pro_btn = gr.Button("Project", variant="primary")
                with gr.Column(scale=2):
                    with gr.Row():
                        pro_target = _image("Target (as G sees it)", height=240)
                        pro_projected = _image("Projection G(z)", height=240)
                        pro_blended = _image("Blend (known pixels kept)", height=240)
                    pro_text = gr.Markdown()
                    with gr.Row():
                        latent_file = gr.File(label="Latent (latent.npy, [1, z_dim] float32)",
                                              interactive=False)
                        pro_video = gr.Video(label="Progress", interactive=False, loop=True, autoplay=True,
                                             height=240)

            with gr.Tab("Training"):
                run_summary = gr.Markdown()
                with gr.Row():
                    with gr.Column(scale=1):
                        fakes_image = _image("Newest samples (fakes*.png)", height=500)
                    with gr.Column(scale=1):
                        plots = []
                        titles = list(training_view.CURVES)
                        for row in range(0, len(titles), 2):
                            with gr.Row():
                                plots += [_plot(title) for title in titles[row:row + 2]]
                seen = gr.State(None)
                timer = gr.Timer(REFRESH_S)

        dice.click(None, None, seeds, js="() => String(Math.floor(Math.random() * 2147483647))",
                   api_visibility="private")
        described = [info, gen_class, int_class, ari_class, pro_class, standing]
        snapshot.change(describe, [snapshot, variant], described, api_name="describe")
        demo.load(describe, [snapshot, variant], described, api_visibility="private")
        gen_inputs = [seeds, gen_class, gen_trunc, *net]
        gen_btn.click(generate, gen_inputs, [gen_image, gen_caption], api_name="generate")
        seeds.submit(generate, gen_inputs, [gen_image, gen_caption], api_visibility="private")
        walk = [seed_a, seed_b, int_class, mode, frames, int_trunc]
        int_btn.click(interpolate, [*walk, *net], [frame_image, frame_slider, frame_paths],
                      api_name="interpolate")
        frame_slider.change(interpolation_frame, [frame_slider, frame_paths], frame_image,
                            api_name="interpolation_frame", show_progress="hidden")
        exp_btn.click(export, [*walk, fmt, fps, *net], video_file, api_name="export")
        ari_btn.click(arithmetic, [base, plus, minus, ari_class, ari_trunc, *net], [ari_sheet, ari_result],
                      api_name="arithmetic")
        pro_btn.click(project, [target_file, mask_file, pro_class, steps, restarts, pro_seed, *net],
                      [pro_target, pro_projected, pro_blended, pro_text, latent_file, pro_video],
                      api_name="project")
        view = [seen, run_summary, fakes_image, *plots, snapshot]
        demo.load(training, seen, view, api_name="training")
        timer.tick(training, seen, view, api_visibility="private", show_progress="hidden")
    return demo
