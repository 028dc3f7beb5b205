"""The adapters against the engines' RELEASED code, not against our stand-ins.

Needs the pinned wheels of backends/engine-wheels.txt, downloaded and unpacked by

    scripts/engine-wheels.sh
    COMPAT_ENGINE_WHEELS="$(scripts/engine-wheels.sh --path)" python3 -m unittest tests/python/test_released_engines.py

and is skipped, saying so, without them (COMPAT_ENGINE_WHEELS unset or not that
folder). Nothing is installed and nothing needs a GPU. How the released code is
used (see wheel_source.py):

* xfuser 0.7.0: the runner's parser is the wheel's own ``FlexibleArgumentParser``
  and ``xFuserArgs.add_runner_args`` (xfuser/config/args.py), EXTRACTED from the
  wheel's source with ast and executed -- not imported: importing
  ``xfuser.config`` runs xfuser/__init__.py, which imports torch, yunchang,
  distvae and the pipelines. ModelCapabilities / ModelSettings fields and the
  model table are read from the syntax tree.
* sglang 0.5.23: ``sglang.multimodal_gen.runtime.server_args`` does not import
  on a CPU machine (sglang/srt/utils/common.py needs orjson, then zmq, psutil,
  torch...; tried with plain python3 and with the diffusers venv), so SGLang's
  parsers -- ``ServerArgs.add_cli_args`` and ``SamplingParams.add_cli_args`` on
  its ``FlexibleArgumentParser``, as ``sglang generate`` builds them -- are
  EXTRACTED with ast and executed (tests/python/sglang_wheel.py); the fields of
  ServerArgs, SamplingParams and GenerationResult are read from the syntax tree.
* vllm-omni 0.30.0: every module imports vllm and torch, so the dataclass
  fields (OmniDiffusionSamplingParams, OmniDiffusionConfig,
  DiffusionParallelConfig, DiffusionCacheConfig), the keyword aliases of
  normalize_omni_diffusion_kwargs and the cache selector's backend names are
  READ from the syntax tree, not imported.

A release that renames a flag or a field compat passes is then a failing test
here after a one-line bump of backends/engine-wheels.txt.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import subprocess
import sys
import tomllib
import types
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # also when run by file name, not only under `discover -s tests/python`

import gen_sglang_standin  # noqa: E402
import gen_xfuser_standin  # noqa: E402
import sglang_wheel  # noqa: E402
import wheel_source  # noqa: E402

REPO = HERE.parent.parent
FEATURES = REPO / "features.toml"
WHEELS = os.environ.get("COMPAT_ENGINE_WHEELS", "")
ENGINES_JSON = Path(WHEELS) / "engines.json" if WHEELS else None
SKIP = (
    "the released engine wheels are not here: run scripts/engine-wheels.sh and set "
    "COMPAT_ENGINE_WHEELS=\"$(scripts/engine-wheels.sh --path)\""
)
HAVE_WHEELS = ENGINES_JSON is not None and ENGINES_JSON.is_file()
if WHEELS and not HAVE_WHEELS:
    # Asked for (CI sets it) but not there: a failure, never a silent skip.
    raise RuntimeError(f"COMPAT_ENGINE_WHEELS={WHEELS} has no engines.json: run scripts/engine-wheels.sh")


def engine_root(dist: str) -> tuple[Path, str]:
    engines = json.loads(ENGINES_JSON.read_text(encoding="utf-8"))  # type: ignore[union-attr]
    entry = engines[dist]
    return Path(WHEELS) / entry["root"], entry["version"]


def load_script(name: str, path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def registry() -> dict:
    return tomllib.loads(FEATURES.read_text(encoding="utf-8"))


# ----------------------------------------------------------------------- xDiT


@unittest.skipUnless(HAVE_WHEELS, SKIP)
class TestXfuserRelease(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.root, cls.version = engine_root("xfuser")
        cls.adapter = load_script("compat_xdit_adapter", REPO / "backends" / "xdit" / "batch_text_to_image.py")
        cls.ns = wheel_source.extract(cls.root, "xfuser.config.args",
                                      ["FlexibleArgumentParser", "xFuserArgs.add_runner_args"])

    def real_parser(self):
        """The wheel's parser, built as xfuser/runner.py builds it, its errors
        raised the way the adapter's own xdit_parser() raises them."""
        parser = self.ns["add_runner_args"](self.ns["FlexibleArgumentParser"](description="xFuser Arguments"))

        def fail(message: str) -> None:
            raise self.adapter.UsageError(message)

        parser.error = fail
        return parser

    def compat_args(self, model: str = "Qwen/Qwen-Image"):
        return self.adapter.build_parser().parse_args([
            "--model", model, "--prompt-file", "p.txt", "--output", "out", "--num-inference-steps", "30",
            "--height", "1024", "--width", "1024", "--cfg-scale", "4", "--seed", "42", "--negative-prompt", "",
            "--warmup", "1",
        ])

    def test_the_wheel_is_the_pinned_release(self) -> None:
        text = (self.root / "xfuser" / "__version__.py").read_text(encoding="utf-8")
        self.assertIn(f"'{self.version}'", text)
        self.assertEqual(self.version, self.adapter.XDIT_VERSION)

    def test_the_adapters_own_settings_parse(self) -> None:
        parser = self.real_parser()
        config = vars(parser.parse_args(self.adapter.core_xdit_argv(self.compat_args())))
        self.assertEqual((config["num_inference_steps"], config["guidance_scale"], config["warmup_calls"]),
                         (30, 4.0, 0))

    def test_every_xdit_flag_in_features_toml_parses(self) -> None:
        parser = self.real_parser()
        fragments = {name: f["backend_args"]["xdit"] for name, f in registry()["features"].items()
                     if "xdit" in f.get("backend_args", {})}
        self.assertGreaterEqual(len(fragments), 9)
        args = self.compat_args()
        for name, fragment in fragments.items():
            with self.subTest(feature=name, flags=fragment):
                # the adapter's whole argument path: compat's settings + the
                # feature's flags through the release's parser, owned options checked
                config = self.adapter.parse_xdit_args(args, fragment, parser)
                self.assertIsInstance(config, dict)

    def test_options_the_adapter_owns_are_real_destinations(self) -> None:
        dests = {a.dest for a in self.real_parser()._actions}
        for dest in self.adapter.OWNED_OPTIONS:
            with self.subTest(dest=dest):
                self.assertIn(dest, dests)
        for dest in ("data_parallel_degree", "cache_method", "gemm_quantization"):
            self.assertIn(dest, dests)

    def test_the_capability_tables_the_adapter_reads(self) -> None:
        module = "xfuser.model_executor.models.runner_models.base_model"
        caps = wheel_source.dataclass_fields(self.root, module, "ModelCapabilities")
        for name in ("supports_step_caching", "use_cfg_parallel", "use_fp8_gemms", "tensor_parallel_degree"):
            self.assertIn(name, caps)
        self.assertIn("step_cache_config", wheel_source.dataclass_fields(self.root, module, "ModelSettings"))
        _, model = wheel_source.class_node(self.root, module, "xFuserModel")
        methods = {n.name for n in model.body if isinstance(n, ast.FunctionDef)}
        for name in ("_validate_config", "_customize_settings", "_apply_default_attention_backend",
                     "preprocess_args", "initialize", "run"):
            self.assertIn(name, methods)

    def test_standin_parser_is_the_releases(self) -> None:
        """Every action of the stand-in's runner parser equals the wheel's: name,
        destination, default, choices, nargs, kind."""
        def describe(parser) -> list:
            out = []
            for a in parser._actions:
                out.append([a.option_strings, a.dest, repr(a.default), list(a.choices or []), repr(a.nargs),
                            type(a).__name__, a.required])
            return out

        code = (
            "import json, os, sys\n"
            "os.environ.update(RANK='0', WORLD_SIZE='1')\n"
            "from xfuser.config import FlexibleArgumentParser, xFuserArgs\n"
            "p = xFuserArgs.add_runner_args(FlexibleArgumentParser())\n"
            "print(json.dumps([[a.option_strings, a.dest, repr(a.default), list(a.choices or []), repr(a.nargs),"
            " type(a).__name__, a.required] for a in p._actions]))\n"
        )
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE / "standin_torch"), str(HERE / "standin")]))
        proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr.decode(errors="replace"))
        standin = json.loads(proc.stdout)
        real = json.loads(json.dumps(describe(self.real_parser())))
        # gemm_quantization's default is None in both; its type is the one difference (a spec vs a string)
        self.assertEqual(standin, real)

    def test_standin_models_are_the_releases(self) -> None:
        committed = load_script(
            "compat_standin_released_models",
            HERE / "standin" / "xfuser" / "model_executor" / "models" / "runner_models" / "released_models.py",
        )
        self.assertEqual(committed.VERSION, self.version)
        self.assertEqual(committed.MODELS, gen_xfuser_standin.table(self.root),
                         "regenerate it: python3 tests/python/gen_xfuser_standin.py WHEEL_ROOT > released_models.py")

    def test_static_unsupported_entries_agree_with_the_release(self) -> None:
        """features.toml's per-model xdit `unsupported` (the fallback where no
        engine is installed) says exactly what the release's tables say, for
        every model it names."""
        models = gen_xfuser_standin.table(self.root)
        by_key = {key: m for m in models for key in m["keys"]}

        def supports(model: dict, fragment: list[str]) -> bool:
            caps = model["capabilities"]
            if fragment[:1] == ["--cache_method"]:
                return bool(caps.get("supports_step_caching")) and fragment[1] in model["step_cache_config"]
            if fragment == ["--gemm_quantization", "fp8"]:
                return bool(caps.get("use_fp8_gemms"))
            if fragment == ["--use_cfg_parallel"]:
                return bool(caps.get("use_cfg_parallel"))
            capability = {
                ("--fully_shard_degree", "2"): "fully_shard_degree",
                ("--use_parallel_vae",): "use_parallel_vae",
                ("--use_fp8_comms",): "use_fp8_comms",
            }.get(tuple(fragment))
            if capability:
                return bool(caps.get(capability))
            raise AssertionError(f"no rule for {fragment}")

        features = registry()["features"]
        checked = 0
        for name, feature in features.items():
            fragment = feature.get("backend_args", {}).get("xdit")
            table = feature.get("unsupported", {}).get("xdit")
            if not fragment or not isinstance(table, dict):
                continue
            named = set(table)
            every = set()
            for other in features.values():
                t = other.get("unsupported", {}).get("xdit")
                if isinstance(t, dict):
                    every |= set(t)
            for key in sorted(every - {"*"}):
                with self.subTest(feature=name, model=key):
                    self.assertIn(key, by_key, f"{key} is not a key of xfuser {self.version}'s registry")
                    model = by_key[key]
                    self.assertEqual(key not in named, supports(model, fragment),
                                     f"features.toml says {name} is {'un' if key in named else ''}supported "
                                     f"on {key}; xfuser {self.version} ({model['file']}:{model['line']}) disagrees")
                    if key in named:
                        self.assertIn(f"runner_models/{model['file']}", table[key])
                    checked += 1
        self.assertGreater(checked, 40)


# ------------------------------------------------------------------ vLLM-Omni


@unittest.skipUnless(HAVE_WHEELS, SKIP)
class TestVllmOmniRelease(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.root, cls.version = engine_root("vllm_omni")
        cls.adapter = load_script("compat_vllm_omni_adapter", REPO / "backends" / "vllm_omni" / "batch_text_to_image.py")

    def fields(self, module: str, cls: str) -> set[str]:
        return set(wheel_source.dataclass_fields(self.root, module, cls))

    def all_features_args(self):
        """The adapter's arguments with every feature of features.toml for
        vllm-omni turned on (one parse per feature, and all at once where they
        go together)."""
        base = ["--model", "Qwen/Qwen-Image-2512", "--prompt-file", "p.txt", "--output", "out"]
        parser = self.adapter.build_parser()
        out = [parser.parse_args(base)]
        for name, f in registry()["features"].items():
            fragment = f.get("backend_args", {}).get("vllm-omni", f.get("args", []))
            if "vllm-omni" in f.get("unsupported", {}) or not fragment:
                continue
            with self.subTest(feature=name):
                out.append(parser.parse_args(base + list(fragment)))
        return out

    def recorded_sampling_keywords(self, args) -> dict:
        """The keywords the adapter gives OmniDiffusionSamplingParams, recorded
        by a module that keeps them (the check is against the release below)."""
        recorder = types.ModuleType("vllm_omni.inputs.data")
        recorder.OmniDiffusionSamplingParams = lambda **kw: kw  # type: ignore[attr-defined]
        saved = {k: sys.modules.get(k) for k in ("vllm_omni", "vllm_omni.inputs", "vllm_omni.inputs.data")}
        sys.modules.update({"vllm_omni": types.ModuleType("vllm_omni"),
                            "vllm_omni.inputs": types.ModuleType("vllm_omni.inputs"),
                            "vllm_omni.inputs.data": recorder})
        try:
            return self.adapter.sampling_params(args, 42)
        finally:
            for k, v in saved.items():
                if v is None:
                    sys.modules.pop(k, None)
                else:
                    sys.modules[k] = v

    def test_sampling_keywords_are_fields_of_the_release(self) -> None:
        fields = self.fields("vllm_omni.inputs.data", "OmniDiffusionSamplingParams")
        self.assertIn("emit_request_lifecycle", fields)  # 0.30.0's, data.py:355
        for args in self.all_features_args():
            for key in self.recorded_sampling_keywords(args):
                with self.subTest(keyword=key):
                    self.assertIn(key, fields)

    def test_omni_keywords_have_an_owner_in_the_release(self) -> None:
        """Every Omni(...) keyword is a field of OmniDiffusionConfig or of
        DiffusionParallelConfig (read by from_stage_overrides, config_factory.py:670),
        or a legacy name normalize_omni_diffusion_kwargs moves onto one of those
        (diffusion/data.py:86-95). 0.30.0 rejects any other keyword
        (validate_omni_diffusion_kwargs, data.py:188-199)."""
        config = self.fields("vllm_omni.diffusion.data", "OmniDiffusionConfig")
        parallel = self.fields("vllm_omni.diffusion.data", "DiffusionParallelConfig")
        self.assertIn("ulysses_a2a_permute", parallel)  # 0.30.0's
        mod = wheel_source.Module(self.root, "vllm_omni.diffusion.data")
        aliases = {}
        for node in ast.walk(mod.defs["normalize_omni_diffusion_kwargs"]):
            if isinstance(node, ast.Tuple) and len(node.elts) == 2 and all(
                    isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts):
                aliases[node.elts[0].value] = node.elts[1].value
        self.assertEqual(aliases.get("quantization"), "quantization_config")
        owners = config | parallel
        for args in self.all_features_args():
            for key in self.adapter.omni_kwargs(args):
                with self.subTest(keyword=key):
                    self.assertTrue(key in owners or aliases.get(key) in owners,
                                    f"Omni({key}=...) has no owner in vllm-omni {self.version}")

    def test_cache_backends_and_their_settings(self) -> None:
        names = wheel_source.string_constants(self.root, "vllm_omni.diffusion.cache.selector", "get_cache_backend")
        choices = next(a.choices for a in self.adapter.build_parser()._actions if a.dest == "cache_backend")
        for backend in choices:
            with self.subTest(backend=backend):
                self.assertIn(backend, names)
        self.assertTrue({"mag_cache", "sea_cache", "step_cache"} <= names)  # new in the release
        fields = self.fields("vllm_omni.diffusion.data", "DiffusionCacheConfig")
        for key in list(self.adapter.TEA_CACHE_CONFIG) + list(self.adapter.CACHE_DIT_CONFIG):
            with self.subTest(cache_setting=key):
                # an unknown key would land in _extra_params and be ignored (data.py:680-700)
                self.assertIn(key, fields)

    def test_mag_cache_ratios_ship_for_the_transformers_the_adapter_assumes(self) -> None:
        """The probe refuses mag_cache for a transformer without shipped ratios
        (0.30.0 raises at the first generation otherwise); the stand-in's
        registry and features.toml's fallback rest on the release's list."""
        def registered(root: Path) -> set[str]:
            path = root / "vllm_omni" / "diffusion" / "cache" / "magcache" / "strategy.py"
            tree = ast.parse(path.read_text(encoding="utf-8"))
            return {node.value.args[0].value for node in tree.body
                    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
                    and isinstance(node.value.func, ast.Attribute) and node.value.func.attr == "register"
                    and node.value.args and isinstance(node.value.args[0], ast.Constant)}
        real = registered(self.root)
        self.assertEqual(real, {"FluxTransformer2DModel", "Flux2Transformer2DModel"})
        self.assertEqual(registered(HERE / "standin"), real)
        table = registry()["features"]["magcache"]["unsupported"]["vllm-omni"]
        self.assertFalse(any("flux" in model.lower() for model in table), table)
        self.assertEqual(self.adapter.cache_config_for("mag_cache", 30), {"num_inference_steps": 30})
        fields = self.fields("vllm_omni.diffusion.data", "DiffusionCacheConfig")
        self.assertIn("num_inference_steps", fields)

    def test_standin_fields_are_the_releases(self) -> None:
        for module, cls in (("vllm_omni.inputs.data", "OmniDiffusionSamplingParams"),
                            ("vllm_omni.diffusion.data", "DiffusionParallelConfig")):
            with self.subTest(cls=cls):
                standin = wheel_source.dataclass_fields(HERE / "standin", module, cls)
                self.assertEqual(list(standin), list(wheel_source.dataclass_fields(self.root, module, cls)))

    def test_the_standin_claims_the_release(self) -> None:
        version = (self.root / "vllm_omni" / "_version.py").read_text(encoding="utf-8")
        self.assertIn(f"'{self.version}'", version)
        init = (HERE / "standin" / "vllm_omni" / "__init__.py").read_text(encoding="utf-8")
        self.assertIn(f'"VLLM_OMNI_STANDIN_VERSION", "{self.version}"', init)


# --------------------------------------------------------------------- SGLang

MG = "sglang/multimodal_gen/"
# file:line the adapter, its README and features.toml cite -> what is there.
SGLANG_CITED = [
    ("runtime/server_args/server_args.py", 2488, '"--tp-size"'),
    ("runtime/server_args/server_args.py", 2494, '"--sp-degree"'),
    ("runtime/server_args/server_args.py", 2500, '"--ulysses-degree"'),
    ("runtime/server_args/server_args.py", 2506, '"--ring-degree"'),
    ("runtime/server_args/server_args.py", 2512, '"--encoder-parallel"'),
    ("runtime/server_args/server_args.py", 2542, '"--enable-cfg-parallel"'),
    ("runtime/server_args/server_args.py", 2548, '"--cfg-parallel-size"'),
    ("runtime/server_args/server_args.py", 2614, '"--enable-torch-compile"'),
    ("runtime/server_args/server_args.py", 2758, '"--dit-cpu-offload"'),
    ("runtime/server_args/server_args.py", 2787, '"--dit-layerwise-offload"'),
    ("runtime/server_args/server_args.py", 2907, '"--text-encoder-cpu-offload"'),
    ("runtime/server_args/server_args.py", 2917, '"--vae-cpu-offload"'),
    ("runtime/server_args/server_args.py", 3015, '"--quantization"'),
    ("runtime/server_args/server_args.py", 2390, '"--cache-dit-config"'),
    ("runtime/server_args/server_args.py", 2411, '"--performance-mode"'),
    ("runtime/server_args/server_args.py", 348, 'performance_mode: str = "auto"'),
    ("runtime/server_args/server_args.py", 382, 'encoder_parallel: str = "auto"'),
    ("runtime/server_args/server_args.py", 1684, "Auto-enable CFG parallel"),
    ("runtime/server_args/server_args.py", 1698, 'self.performance_mode != "manual"'),
    ("runtime/server_args/server_args.py", 1751, "self.kv_gather_degree = 2"),
    ("runtime/server_args/server_args.py", 1570, 'self.warmup_mode = "server"'),
    ("runtime/server_args/server_args.py", 3865, "return cls(**kwargs)"),
    ("runtime/server_args/auto_tune.py", 639, 'return self.server_args.performance_mode != "manual"'),
    ("configs/sample/sampling_params.py", 404, "enable_cache_dit: bool | None = None"),
    ("configs/sample/sampling_params.py", 463, "return_file_paths_only: bool = True"),
    ("configs/sample/sampling_params.py", 1102, "user_sampling_params = type(sampling_params)(*args, **user_kwargs)"),
    ("configs/sample/sampling_params.py", 1152, '"--enable-teacache"'),
    ("configs/sample/sampling_params.py", 1156, '"--enable-cache-dit"'),
    ("configs/sample/qwenimage.py", 20, "negative_prompt: str = \"低分辨率"),
    ("runtime/cache/teacache.py", 275, "or forward_batch.teacache_params is None"),
    ("runtime/entrypoints/diffusion_generator.py", 124, "def from_pretrained("),
    ("runtime/entrypoints/diffusion_generator.py", 242, "def generate("),
    ("runtime/entrypoints/diffusion_generator.py", 454, 'logger.error("Generation failed: %s", e, exc_info=True)'),
    ("runtime/entrypoints/diffusion_generator.py", 479, "return None"),
    ("runtime/entrypoints/utils.py", 193, "class GenerationResult:"),
    ("runtime/managers/gpu_worker.py", 537, "output_batch.peak_memory_mb = peak_reserved_bytes / (1024**2)"),
    ("runtime/pipelines_core/stages/denoising.py", 1006, "if self.server_args.enable_breakable_cuda_graph:"),
    ("envs.py", 73, "SGLANG_CACHE_DIT_ENABLED: bool = False"),
    ("envs.py", 393, '"SGLANG_CACHE_DIT_ENABLED": _lazy_bool("SGLANG_CACHE_DIT_ENABLED")'),
]


@unittest.skipUnless(HAVE_WHEELS, SKIP)
class TestSglangRelease(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.root, cls.version = engine_root("sglang")
        cls.adapter = load_script("compat_sglang_adapter", REPO / "backends" / "sglang" / "batch_text_to_image.py")
        flexible, add_server, add_sampling = sglang_wheel.parsers(cls.root)
        cls.parsers = cls.adapter.EngineParsers(flexible, add_server, add_sampling)
        server = sglang_wheel.field_defaults(cls.root, sglang_wheel.SERVER_ARGS, "ServerArgs")
        server.update(sglang_wheel.field_defaults(cls.root, sglang_wheel.DISAGG, "DisaggServerArgsMixin"))
        cls.server_fields = set(server)
        cls.sampling_fields = set(wheel_source.dataclass_fields(cls.root, gen_sglang_standin.SAMPLING, "SamplingParams"))

    def compat_args(self, model: str = "Qwen/Qwen-Image-2512"):
        return self.adapter.build_parser().parse_args([
            f"--model={model}", "--prompt-file", "p.txt", "--output", "out", "--num-inference-steps", "30",
            "--height", "1024", "--width", "1024", "--cfg-scale", "4", "--seed", "42", "--negative-prompt=",
            "--warmup", "1",
        ])

    def command_tail(self) -> list[str]:
        """What compat's command passes after the adapter's own flags, {gpus} as 2."""
        command = registry()["backends"]["sglang"]["command"]
        tail = command[command.index("--num-gpus"):]
        return [("2" if t == "{gpus}" else t) for t in tail]

    def test_the_wheel_is_the_pinned_release(self) -> None:
        self.assertEqual(sglang_wheel.version(self.root), self.version)
        self.assertEqual(self.version, self.adapter.SGLANG_VERSION)

    def test_every_flag_compat_passes_parses_into_real_fields(self) -> None:
        """compat's command and every sglang feature of features.toml, through the
        release's own parser; what comes out is keywords of the release's
        ServerArgs (from_pretrained) and SamplingParams (every request)."""
        fragments = {name: f["backend_args"]["sglang"] for name, f in registry()["features"].items()
                     if "sglang" in f.get("backend_args", {})}
        self.assertGreaterEqual(len(fragments), 10)
        fragments["(none)"] = []
        args = self.compat_args()
        for name, fragment in fragments.items():
            with self.subTest(feature=name, flags=fragment):
                plan = self.adapter.plan_engine(args, self.command_tail() + list(fragment), self.parsers)
                self.assertLessEqual(set(plan.server), self.server_fields)
                self.assertLessEqual(set(plan.sampling), self.sampling_fields)
                request = self.adapter.request_kwargs(args, plan, "a prompt", 43)
                self.assertLessEqual(set(request), self.sampling_fields)
                self.assertEqual(plan.server["num_gpus"], 2)
                for value in fragment:
                    if value.startswith("--"):
                        self.assertNotIn(value, self.adapter.OWNED_OPTIONS)

    def test_the_pins_are_the_releases_options(self) -> None:
        plan = self.adapter.plan_engine(self.compat_args(), self.command_tail(), self.parsers)
        self.assertEqual(plan.pinned, {"performance_mode": "manual", "enable_cfg_parallel": False, "sp_degree": 1,
                                       "encoder_parallel": "replicate", "warmup_mode": "off"})
        # a feature's size supersedes the boolean pin (server_args.py:1676-1681)
        plan = self.adapter.plan_engine(self.compat_args(), self.command_tail() + ["--cfg-parallel-size", "2"],
                                        self.parsers)
        self.assertEqual(plan.server["cfg_parallel_degree"], 2)
        self.assertNotIn("enable_cfg_parallel", plan.pinned)

    def test_options_the_adapter_owns_or_reads_are_real(self) -> None:
        dests = {a.dest for a in self.parsers.parser._actions}
        for dest in self.adapter.OWNED_OPTIONS:
            with self.subTest(owned=dest):
                self.assertIn(dest, dests)
        for dest in self.adapter.PINS:
            with self.subTest(pin=dest):
                self.assertIn(dest, self.server_fields)
        for name in self.adapter.RESOLVED_FIELDS:
            with self.subTest(resolved=name):
                self.assertIn(name, self.server_fields)
        result = wheel_source.dataclass_fields(self.root, gen_sglang_standin.UTILS, "GenerationResult")
        for name in ("frames", "peak_memory_mb", "generation_time", "output_file_path"):
            self.assertIn(name, result)

    def test_the_defaults_the_adapter_overrides(self) -> None:
        base = sglang_wheel.field_defaults(self.root, gen_sglang_standin.SAMPLING, "SamplingParams")
        self.assertIs(base["return_file_paths_only"], True)
        self.assertIs(base["save_output"], True)
        self.assertIsNone(base["teacache_params"])
        for cls in ("QwenImageSamplingParams", "QwenImage2512SamplingParams"):
            self.assertNotIn("teacache_params", sglang_wheel.field_defaults(self.root, gen_sglang_standin.QWEN, cls))
        negative = sglang_wheel.field_defaults(self.root, gen_sglang_standin.QWEN, "QwenImage2512SamplingParams")
        self.assertGreater(len(negative["negative_prompt"]), 20)

    def test_cited_lines_say_what_is_cited(self) -> None:
        for path, line, text in SGLANG_CITED:
            with self.subTest(at=f"{path}:{line}"):
                lines = (self.root / MG / path).read_text(encoding="utf-8").split("\n")
                self.assertIn(text, lines[line - 1])

    def test_standin_tables_are_the_releases(self) -> None:
        committed = load_script("compat_standin_sglang_released",
                                HERE / "standin" / "sglang" / "multimodal_gen" / "released.py")
        tables = gen_sglang_standin.tables(self.root)
        for name, value in tables.items():
            with self.subTest(table=name):
                self.assertEqual(getattr(committed, name), value,
                                 "regenerate it: python3 tests/python/gen_sglang_standin.py WHEEL_ROOT > "
                                 "tests/python/standin/sglang/multimodal_gen/released.py")

    def test_standin_parser_is_the_releases(self) -> None:
        code = (
            "import json, sys\n"
            f"sys.path.insert(0, {str(HERE)!r})\n"
            "import sglang_wheel\n"
            "from sglang.multimodal_gen.runtime.utils.argparse import FlexibleArgumentParser\n"
            "from sglang.multimodal_gen.runtime.server_args import ServerArgs\n"
            "from sglang.multimodal_gen.configs.sample.sampling_params import SamplingParams\n"
            "p = FlexibleArgumentParser()\n"
            "ServerArgs.add_cli_args(p)\n"
            "SamplingParams.add_cli_args(p)\n"
            "print(json.dumps(sglang_wheel.describe(p), ensure_ascii=False))\n"
        )
        env = dict(os.environ, PYTHONPATH=str(HERE / "standin"))
        proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr.decode(errors="replace"))
        real = json.loads(json.dumps(sglang_wheel.describe(self.parsers.parser), ensure_ascii=False))
        self.assertEqual(json.loads(proc.stdout), real)


if __name__ == "__main__":
    unittest.main()
