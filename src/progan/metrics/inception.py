"""The 2015-12-05 TF Inception graph as ported to PyTorch by torch-fidelity (pool3 2048-D + 1008 logits).

Uses ``torch_fidelity.feature_extractor_inceptionv3`` unchanged: uint8 input, TF1-exact bilinear resize
to 299 inside the network, the numbers FID/KID/IS references are quoted in. torch-fidelity is installed
without its dependencies (``pip install --no-deps torch-fidelity``): its package ``__init__`` imports a
CLIP extractor that needs torchvision, which does not install beside every torch build, so the module is
loaded from the package directory without running that ``__init__``. The weights are never downloaded
silently from code paths that must work offline: they come from ``--inception-weights``,
``$PROGAN_INCEPTION_WEIGHTS``, the torch hub cache, or one explicit download attempt; they are read with
``torch.load(weights_only=True)`` (torch-fidelity itself would unpickle with ``weights_only=False``).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
import types
import urllib.request
from pathlib import Path
from typing import Any
from unittest import mock

import torch
from safetensors.torch import load_file

from progan.errors import UserError

WEIGHTS_URL = "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth"
WEIGHTS_NAMES = ("weights-inception-2015-12-05-6726825d.pth", "pt_inception-2015-12-05-6726825d.pth")
ENV_WEIGHTS = "PROGAN_INCEPTION_WEIGHTS"
FEATURE_DIM = 2048
NUM_LOGITS = 1008

__all__ = ["InceptionV3", "resolve_weights", "load_state_dict", "import_fidelity_inception"]


def import_fidelity_inception() -> types.ModuleType:
    """torch-fidelity's Inception module, importable without torchvision."""
    name = "torch_fidelity.feature_extractor_inceptionv3"
    if name in sys.modules:
        return sys.modules[name]
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name == "torch_fidelity":
            raise UserError("FID/KID/IS with Inception need torch-fidelity: "
                            "pip install --no-deps torch-fidelity "
                            "(or use --features FILE from progan classifier train)") from None
        if e.name != "torchvision":
            raise
    for key in [k for k in sys.modules if k == "torch_fidelity" or k.startswith("torch_fidelity.")]:
        del sys.modules[key]
    spec = importlib.util.find_spec("torch_fidelity")
    assert spec is not None and spec.submodule_search_locations is not None
    pkg = types.ModuleType("torch_fidelity")
    # A bare package: its submodules import, its __init__ does not run.
    pkg.__path__ = list(spec.submodule_search_locations)
    sys.modules["torch_fidelity"] = pkg
    return importlib.import_module(name)


def _hub_path() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_NAMES[0]


def resolve_weights(path: str | os.PathLike[str] | None, *, allow_download: bool = True) -> Path:
    """The weights file to use: ``path``, $PROGAN_INCEPTION_WEIGHTS, the hub cache, or a download."""
    candidate = path or os.environ.get(ENV_WEIGHTS)
    if candidate:
        p = Path(candidate).expanduser()
        if not p.is_file():
            raise UserError(f"Inception weights file {p} does not exist (from "
                            f"{'--inception-weights' if path else '$' + ENV_WEIGHTS})")
        return p
    for name in WEIGHTS_NAMES:
        cached = _hub_path().with_name(name)
        if cached.is_file():
            return cached
    hint = (f"FID/KID/IS need the TF-Inception weights: download {WEIGHTS_URL} where there is internet "
            f"and pass --inception-weights FILE (or set {ENV_WEIGHTS}); offline alternative: "
            "--features FILE from progan classifier train")
    if not allow_download:
        raise UserError(hint)
    dest = _hub_path()
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + f".{os.getpid()}.tmp")
        with urllib.request.urlopen(WEIGHTS_URL, timeout=20) as r, open(tmp, "wb") as f:
            while chunk := r.read(1 << 20):
                f.write(chunk)
        tmp.replace(dest)
    except OSError:
        raise UserError(f"no network to download them; {hint}") from None
    return dest


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A plain tensor state dict from .pth (weights_only) or .safetensors."""
    try:
        if path.suffix == ".safetensors":
            sd: Any = load_file(str(path))
        else:
            sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the user's to fix
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise UserError(f"cannot read Inception weights {path}: {reason}") from None
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise UserError(f"{path} is not an Inception state dict (expected a dict of tensors)")
    return sd


class InceptionV3(torch.nn.Module):
    """uint8 [N, 3, H, W] (gray is tiled) -> (pool3 features [N, 2048], unbiased logits [N, 1008])."""

    def __init__(self, weights: str | os.PathLike[str] | None = None, *, allow_download: bool = True) -> None:
        super().__init__()
        module = import_fidelity_inception()
        path = resolve_weights(weights, allow_download=allow_download)
        state = load_state_dict(path)
        self.fingerprint = _fingerprint(path)
        # Hand over our safely loaded weights instead of torch-fidelity's download.
        with mock.patch.object(module, "load_state_dict_from_url", lambda *a, **k: state):
            try:
                self.net = module.FeatureExtractorInceptionV3("inception-v3-compat",
                                                              ["2048", "logits_unbiased"])
            except RuntimeError as e:
                raise UserError(f"{path} does not match the Inception architecture "
                                f"({str(e).splitlines()[0]})") from None

    def features_and_logits(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        feats, logits = self.net(images.contiguous())
        return feats, logits


def _fingerprint(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return "inception-" + h.hexdigest()[:16]
