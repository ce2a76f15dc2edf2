"""``progan explore``: a local web page to look at a run and play with its generator.

Modules: ``source`` (what PATH holds, and the only files read for the page), ``networks`` (loaded
generators, cached), ``uploads`` (size limits + ``progan prepare``'s decoding), ``actions`` (the work of each
tab, by the library functions of the matching commands), ``training_view`` (curves from the run's logs),
``app`` (the Gradio page), ``server`` (start / stop, safety settings). Needs the ``explore`` extra (Gradio).

torch and the sampling library are imported inside the functions that need them, on purpose: the page is
served before torch is imported (most of the start-up), and the generator loads once the page is up.
"""

from progan.explore.server import is_loopback, serve, start

__all__ = ["is_loopback", "serve", "start"]
