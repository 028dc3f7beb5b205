"""The probe mode of the three backend scripts (backends/protocol.py, probe protocol 1).

    python3 backends/<engine>/batch_text_to_image.py --probe REQUEST.json --output ANSWER.json

xDiT and vLLM-Omni are probed against the stand-ins (tests/python/standin*,
rebuilt from the released wheels), diffusers against the real library when
$COMPAT_DIFFUSERS_PYTHON (or this interpreter) can import it, on a tiny local
pipeline. Standard library only otherwise.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
SCRIPTS = {name: REPO / "backends" / name / "batch_text_to_image.py" for name in ("xdit", "vllm_omni", "diffusers")}
STANDIN_PATH = os.pathsep.join([str(HERE / "standin_torch"), str(HERE / "standin")])
PYTHON = os.environ.get("COMPAT_DIFFUSERS_PYTHON") or sys.executable
SETTINGS = {"steps": 4, "height": 64, "width": 64, "cfg_scale": 4.0}


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("XFUSER_STANDIN", "VLLM_OMNI_STANDIN", "STANDIN_TORCH"))
           and k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "PYTHONPATH")}
    env.update(extra)
    return env


class ProbeCase(unittest.TestCase):
    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="compat-probe-"))

    def tearDown(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    def probe(self, engine: str, model: str, features: dict, env: dict | None = None,
              python: str = sys.executable, request: object = None) -> tuple[subprocess.CompletedProcess, dict | None]:
        req = self.tmp / "request.json"
        body = request if request is not None else {"model": model, "features": features, "settings": SETTINGS}
        req.write_text(json.dumps(body), encoding="utf-8")
        out = self.tmp / "answer.json"
        if out.exists():
            out.unlink()
        proc = subprocess.run([python, str(SCRIPTS[engine]), "--probe", str(req), "--output", str(out)],
                              env=env if env is not None else clean_env(PYTHONPATH=STANDIN_PATH),
                              capture_output=True, text=True, timeout=120, cwd=str(self.tmp))
        answer = json.loads(out.read_text(encoding="utf-8")) if out.exists() else None
        return proc, answer

    def assert_answer_shape(self, answer: dict, engine: str, model: str, features: dict) -> None:
        self.assertEqual((answer["event"], answer["protocol"], answer["engine"], answer["model"]),
                         ("probe", 1, engine, model))
        self.assertEqual(set(answer["features"]), set(features))  # every feature of the request
        for verdict in answer["features"].values():
            self.assertIsInstance(verdict["supported"], bool)
            if not verdict["supported"]:
                self.assertTrue(verdict["reason"])
        self.assertIn(answer["install"], ("wheel", "editable", "unknown"))
        self.assertIsInstance(answer["notes"], list)
        # atomic: no temporary file left beside the answer
        self.assertEqual([p.name for p in self.tmp.iterdir() if p.name.startswith("answer.json.")], [])


class TestXditProbe(ProbeCase):
    FEATURES = {
        "cache_dit": ["--cache_method", "dbcache"],
        "teacache": ["--cache_method", "teacache"],
        "first_block_cache": ["--cache_method", "fbcache"],
        "fp8": ["--gemm_quantization", "fp8"],
        "cpu_offload": ["--enable_model_cpu_offload"],
        "cfg_parallel": ["--use_cfg_parallel"],
        "tp": ["--tensor_parallel_degree", "2"],
        "bogus": ["--cache-backend", "tea_cache"],
        "owned": ["--seed", "7"],
    }

    def test_qwen_image(self) -> None:
        proc, answer = self.probe("xdit", "Qwen/Qwen-Image", self.FEATURES)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assert_answer_shape(answer, "xfuser", "Qwen/Qwen-Image", self.FEATURES)
        self.assertEqual(answer["version"], "0.7.0")
        f = answer["features"]
        for name in ("cache_dit", "fp8", "cpu_offload"):
            self.assertEqual(f[name], {"supported": True}, name)
        self.assertIn("xfuser 0.7.0: Model Qwen/Qwen-Image does not support --cache_method teacache. "
                      "Supported: dbcache (xFuserQwenImageModel, qwen.py)", f["teacache"]["reason"])
        self.assertIn("--cache_method fbcache", f["first_block_cache"]["reason"])
        self.assertIn("does not support use_cfg_parallel.", f["cfg_parallel"]["reason"])
        self.assertIn("does not support tensor_parallel_degree.", f["tp"]["reason"])
        self.assertIn("unrecognized arguments: --cache_backend tea_cache", f["bogus"]["reason"])
        self.assertIn("the adapter sets it itself -- use --seed", f["owned"]["reason"])

    def test_flux_models(self) -> None:
        features = {"teacache": ["--cache_method", "teacache"], "first_block_cache": ["--cache_method", "fbcache"]}
        _, answer = self.probe("xdit", "black-forest-labs/FLUX.1-dev", features)
        self.assertEqual(answer["features"]["teacache"], {"supported": True})
        self.assertFalse(answer["features"]["first_block_cache"]["supported"])
        _, answer = self.probe("xdit", "black-forest-labs/FLUX.2-klein-4B", features)
        self.assertEqual(answer["features"]["first_block_cache"], {"supported": True})
        self.assertIn("Supported: fbcache", answer["features"]["teacache"]["reason"])

    def test_model_outside_the_registry(self) -> None:
        proc, answer = self.probe("xdit", "acme/nope", {"cache_dit": ["--cache_method", "dbcache"]})
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("not in xDiT's model registry", answer["features"]["cache_dit"]["reason"])
        self.assertTrue(any("not in xDiT's model registry" in n for n in answer["notes"]))

    def test_release_older_than_the_adapter(self) -> None:
        env = clean_env(PYTHONPATH=STANDIN_PATH, XFUSER_STANDIN_VERSION="0.5.0")
        _, answer = self.probe("xdit", "Qwen/Qwen-Image", {"cache_dit": ["--cache_method", "dbcache"]}, env=env)
        self.assertEqual(answer["version"], "0.5.0")
        self.assertIn("xfuser 0.5.0 is not supported", answer["features"]["cache_dit"]["reason"])

    def test_not_importable_is_exit_3_with_one_line(self) -> None:
        proc, answer = self.probe("xdit", "Qwen/Qwen-Image", {}, env=clean_env())
        self.assertEqual(proc.returncode, 3)
        self.assertIsNone(answer)
        self.assertRegex(proc.stderr.strip().splitlines()[-1], r"^probe: xfuser not importable: ")

    def test_bad_requests_are_exit_2(self) -> None:
        for request, expect in (({"features": {}}, '"model"'),
                                ({"model": "m", "features": {"x": "--flag"}}, "list of strings"),
                                ({"model": "m", "settings": {"steps": "many"}}, "settings.steps")):
            with self.subTest(request=request):
                proc, answer = self.probe("xdit", "", {}, request=request)
                self.assertEqual(proc.returncode, 2, proc.stderr)
                self.assertIn(expect, proc.stderr)
                self.assertIsNone(answer)
        proc = subprocess.run([sys.executable, str(SCRIPTS["xdit"]), "--probe", str(self.tmp / "r.json")],
                              capture_output=True, text=True, timeout=60, env=clean_env())
        self.assertEqual(proc.returncode, 2)
        self.assertIn("--output", proc.stderr)


class TestVllmOmniProbe(ProbeCase):
    FEATURES = {
        "teacache": ["--cache-backend", "tea_cache"],
        "cache_dit": ["--cache-backend", "cache_dit"],
        "ulysses": ["--ulysses-degree", "2"],
        "fp8": ["--quantization", "fp8"],
        "fa_deterministic": ["--fa-deterministic"],
        "layerwise_with_sp": ["--ulysses-degree", "2", "--enable-layerwise-offload"],
        "mag_cache": ["--cache-backend", "mag_cache"],
    }

    def test_release(self) -> None:
        proc, answer = self.probe("vllm_omni", "Qwen/Qwen-Image-2512", self.FEATURES)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assert_answer_shape(answer, "vllm-omni", "Qwen/Qwen-Image-2512", self.FEATURES)
        self.assertEqual(answer["version"], "0.30.0")
        f = answer["features"]
        for name in ("teacache", "cache_dit", "ulysses", "fp8", "fa_deterministic"):
            self.assertEqual(f[name], {"supported": True}, name)
        self.assertIn("single GPU only", f["layerwise_with_sp"]["reason"])
        # 0.30.0's mag_cache has ratios for FLUX transformers only: not for this
        # model, whose transformer class the probe cannot read here (no weights)
        self.assertIn("MagCache ratios", f["mag_cache"]["reason"])
        self.assertIn("FluxTransformer2DModel", f["mag_cache"]["reason"])

    def test_mag_cache_follows_the_model_s_transformer_and_hsdp_needs_a_layout(self) -> None:
        # A local FLUX.1 folder: its model_index.json names a transformer whose
        # ratios ship with 0.30.0; a Qwen-Image folder names one whose do not.
        answers = {}
        for name, cls in (("flux", "FluxTransformer2DModel"), ("qwen", "QwenImageTransformer2DModel")):
            folder = self.tmp / name
            folder.mkdir()
            (folder / "model_index.json").write_text(
                json.dumps({"_class_name": "X", "transformer": ["diffusers", cls]}), encoding="utf-8")
            features = {"mag_cache": ["--cache-backend", "mag_cache"], "hsdp": ["--use-hsdp"],
                        "hsdp_sp": ["--ulysses-degree", "2", "--use-hsdp"]}
            proc, answers[name] = self.probe("vllm_omni", str(folder), features)
            self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(answers["flux"]["features"]["mag_cache"], {"supported": True})
        self.assertIn("no MagCache ratios for QwenImageTransformer2DModel",
                      answers["qwen"]["features"]["mag_cache"]["reason"])
        self.assertIn("parallel degree above 1", answers["flux"]["features"]["hsdp"]["reason"])
        self.assertEqual(answers["flux"]["features"]["hsdp_sp"], {"supported": True})

    def test_older_release_drops_a_keyword(self) -> None:
        env = clean_env(PYTHONPATH=STANDIN_PATH, VLLM_OMNI_STANDIN_VERSION="0.26.0")
        _, answer = self.probe("vllm_omni", "Qwen/Qwen-Image-2512", {"fa_deterministic": ["--fa-deterministic"],
                                                                     "ulysses": ["--ulysses-degree", "2"]}, env=env)
        self.assertEqual(answer["version"], "0.26.0")
        self.assertIn("--fa-deterministic needs vLLM-Omni >= 0.27", answer["features"]["fa_deterministic"]["reason"])
        self.assertEqual(answer["features"]["ulysses"], {"supported": True})

    def test_not_importable(self) -> None:
        proc, _ = self.probe("vllm_omni", "m", {}, env=clean_env())
        self.assertEqual(proc.returncode, 3)
        self.assertIn("probe: vllm-omni not importable", proc.stderr)


def _diffusers_importable() -> bool:
    try:
        r = subprocess.run([PYTHON, "-c", "import diffusers, torch, transformers"], capture_output=True, timeout=300,
                           env=clean_env())
    except (OSError, subprocess.SubprocessError):
        return False
    return r.returncode == 0


class TestDiffusersProbeWithoutDiffusers(ProbeCase):
    def test_not_importable(self) -> None:
        env = clean_env(PYTHONPATH=str(self.tmp / "empty"))
        proc = subprocess.run([sys.executable, "-S", "-c", "import diffusers"], capture_output=True, env=env)
        if proc.returncode == 0:
            self.skipTest("diffusers is importable by this interpreter")
        req = self.tmp / "r.json"
        req.write_text(json.dumps({"model": "m", "features": {}}), encoding="utf-8")
        proc = subprocess.run([sys.executable, "-S", str(SCRIPTS["diffusers"]), "--probe", str(req), "--output",
                               str(self.tmp / "a.json")], capture_output=True, text=True, env=env, timeout=60)
        self.assertEqual(proc.returncode, 3, proc.stderr)
        self.assertIn("probe: diffusers not importable", proc.stderr)


@unittest.skipUnless(_diffusers_importable(),
                     f"torch/diffusers not importable by {PYTHON} (set COMPAT_DIFFUSERS_PYTHON to a venv's python)")
class TestDiffusersProbe(ProbeCase):
    FEATURES = {
        "first_block_cache": ["--cache", "first_block_cache"],
        "magcache": ["--cache", "magcache"],
        "compile": ["--compile"],
        "ulysses": ["--ulysses-degree", "2"],
        "group_offload": ["--group-offload"],
        "teacache": ["--cache-backend", "tea_cache"],
    }

    def test_tiny_qwen_image_on_this_machine(self) -> None:
        model = self.tmp / "tiny"
        r = subprocess.run([PYTHON, str(REPO / "backends" / "diffusers" / "make_tiny_pipeline.py"), str(model)],
                           capture_output=True, text=True, timeout=600, env=clean_env())
        self.assertEqual(r.returncode, 0, r.stderr)
        proc, answer = self.probe("diffusers", str(model), self.FEATURES, env=clean_env(HF_HUB_OFFLINE="1"),
                                  python=PYTHON)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assert_answer_shape(answer, "diffusers", str(model), self.FEATURES)
        f = answer["features"]
        for name in ("first_block_cache", "magcache", "compile"):
            self.assertEqual(f[name], {"supported": True}, name)
        self.assertIn("no TeaCache", f["teacache"]["reason"])
        cuda = "CUDA available" in " ".join(answer["notes"])
        if not cuda:
            self.assertIn("no accelerator here", f["ulysses"]["reason"])
            self.assertIn("moves nothing", f["group_offload"]["reason"])

    def test_model_index_missing(self) -> None:
        proc, answer = self.probe("diffusers", str(self.tmp / "nothing-here"), {"compile": ["--compile"]},
                                  env=clean_env(HF_HUB_OFFLINE="1"), python=PYTHON)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertTrue(any("model_index.json" in n for n in answer["notes"]))
        self.assertEqual(answer["features"]["compile"], {"supported": True})  # library-level checks only


class TestEngineIdentity(unittest.TestCase):
    """protocol.engine_identity on a fabricated site-packages: a wheel install,
    an editable install (commit from its checkout) and no metadata at all."""

    @classmethod
    def setUpClass(cls) -> None:
        spec = importlib.util.spec_from_file_location("compat_protocol_under_test", REPO / "backends" / "protocol.py")
        cls.protocol = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        spec.loader.exec_module(cls.protocol)  # type: ignore[union-attr]

    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="compat-identity-"))

    def tearDown(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    def identity_in_child(self, site: Path | str, name: str) -> dict:
        code = ("import json, sys, importlib.util\n"
                f"spec = importlib.util.spec_from_file_location('p', {str(REPO / 'backends' / 'protocol.py')!r})\n"
                "p = importlib.util.module_from_spec(spec); spec.loader.exec_module(p)\n"
                f"import {name}\n"
                f"print(json.dumps(p.engine_identity({name!r}, {name})))\n")
        r = subprocess.run([sys.executable, "-c", code], env=clean_env(PYTHONPATH=str(site)),
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def test_wheel_install(self) -> None:
        site = self.tmp / "site"
        (site / "fakeengine").mkdir(parents=True)
        (site / "fakeengine" / "__init__.py").write_text("__version__ = 'ignored'\n")
        info = site / "fakeengine-1.2.3.dist-info"
        info.mkdir()
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fakeengine\nVersion: 1.2.3\n")
        (info / "RECORD").write_text("fakeengine/__init__.py,,\nfakeengine-1.2.3.dist-info/METADATA,,\n")
        self.assertEqual(self.identity_in_child(site, "fakeengine"),
                         {"version": "1.2.3", "commit": None, "install": "wheel"})

    def test_editable_install_reports_the_checkout_commit(self) -> None:
        if shutil.which("git") is None:
            self.skipTest("no git")
        checkout = self.tmp / "checkout"
        (checkout / "fakeengine").mkdir(parents=True)
        (checkout / "fakeengine" / "__init__.py").write_text("")
        git = ["git", "-C", str(checkout), "-c", "user.name=t", "-c", "user.email=t@t"]
        subprocess.run(["git", "init", "-q", str(checkout)], check=True)
        subprocess.run(git + ["add", "-A"], check=True)
        subprocess.run(git + ["commit", "-qm", "x"], check=True)
        head = subprocess.run(git + ["rev-parse", "--short=12", "HEAD"], capture_output=True, text=True).stdout.strip()
        site = self.tmp / "site"
        info = site / "fakeengine-0.8.0.dev3.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fakeengine\nVersion: 0.8.0.dev3\n")
        (info / "RECORD").write_text("")
        (info / "direct_url.json").write_text(json.dumps({"url": checkout.resolve().as_uri(),
                                                          "dir_info": {"editable": True}}))
        # what the editable install's .pth does: the checkout on sys.path
        got = self.identity_in_child(os.pathsep.join([str(site), str(checkout)]), "fakeengine")
        self.assertEqual(got, {"version": "0.8.0.dev3", "commit": head, "install": "editable"})

    def test_no_metadata(self) -> None:
        site = self.tmp / "site"
        (site / "fakeengine").mkdir(parents=True)
        (site / "fakeengine" / "__init__.py").write_text("__version__ = '9.9'\n")
        self.assertEqual(self.identity_in_child(site, "fakeengine"),
                         {"version": "9.9", "commit": None, "install": "unknown"})

    def test_atomic_write_leaves_no_temporary_file(self) -> None:
        target = self.tmp / "out" / "answer.json"
        self.protocol.write_json_atomic(target, {"a": 1})
        self.assertEqual(json.loads(target.read_text()), {"a": 1})
        self.assertEqual([p.name for p in target.parent.iterdir()], ["answer.json"])


if __name__ == "__main__":
    unittest.main()
