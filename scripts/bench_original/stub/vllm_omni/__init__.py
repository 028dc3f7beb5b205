"""A strict stand-in for the vLLM-Omni engine API that the original
framework's batch script calls, so the real, unchanged script
(../batch_text_to_image.py) runs on a machine without GPUs or weights.

Mirrored from branch `compat` of github.com/wtomin/vllm-omni at commit
7bd8f25f87ba935f7afc3ffb85ae7256dd13e082, the vllm_omni package the script
ran against (cited as path:line of that commit; B:line is a line of the
batch script). Only what the script touches exists here; a module, class,
argument or attribute the script does not use is an ImportError, TypeError
or AttributeError, so a script that drifts from this API fails loudly
instead of being simulated.

The work is simulated (_sim.py): the engine's construction sleeps the model
load, each generate() sleeps the per-prompt time of its parallel degree and
cache backend, and returns real PNG-writable images.
"""
